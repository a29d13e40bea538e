// natterd: the chat server. With no flags it serves the embedded default on
// 127.0.0.1:8080 with its data in ./data.
#include <csignal>
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "app/app.hpp"

namespace {

bool parse_listen(const std::string& s, natter::Config& c) {
    auto colon = s.rfind(':');
    if (colon == std::string::npos || colon == 0) return false;
    try {
        auto port = std::stoul(s.substr(colon + 1));
        if (port > 65535) return false;
        c.host = s.substr(0, colon);
        c.port = std::uint16_t(port);
    } catch (...) {
        return false;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    natter::Config config;
    std::string listen = "127.0.0.1:8080";
    CLI::App cli{"natterd: a chat server (see README.md)"};
    cli.add_option("--listen", listen, "HOST:PORT to listen on (port 0: any free port)")->capture_default_str();
    cli.add_option("--data", config.data_dir, "data directory (SQLite file, token key)")->capture_default_str();
    cli.add_option("--threads", config.io_threads, "I/O threads (0: one per core)")->capture_default_str();
    cli.add_option("--send-rate", config.limits.send_rate_per_s, "sends per user per second")->capture_default_str();
    cli.add_option("--send-burst", config.limits.send_burst, "burst of sends per user")->capture_default_str();
    CLI11_PARSE(cli, argc, argv);
    if (!parse_listen(listen, config)) {
        std::cerr << "natterd: --listen must be HOST:PORT, e.g. 127.0.0.1:8080 (got '" << listen << "')\n";
        return 2;
    }

    // Signals are taken by sigwait below, not by whichever thread they hit.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    try {
        natter::App app(config);
        auto port = app.start();
        std::printf("natterd: listening on http://%s:%u (data in %s)\n", config.host.c_str(), unsigned(port),
                    config.data_dir.c_str());
        std::fflush(stdout);
        int sig = 0;
        sigwait(&signals, &sig);
        spdlog::info("natterd: signal {}, stopping", sig);
        app.stop();
    } catch (const std::exception& e) {
        std::cerr << "natterd: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
