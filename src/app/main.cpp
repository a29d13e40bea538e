// natterd: the chat server. With no flags it serves the embedded default on
// 127.0.0.1:8080 with its data in ./data.
#include <sys/stat.h>

#include <csignal>
#include <cstdio>
#include <iostream>

#include "app/app.hpp"
#include "obs/log.hpp"

int main(int argc, char** argv, char** envp) {
    auto inv = natter::load_config(argc, argv, envp);
    if (inv.exit_code >= 0) return inv.exit_code;
    if (inv.print_config) {
        std::cout << natter::config_to_toml(inv.config);
        return 0;
    }
    const auto& config = inv.config;
    natter::init_logging(config.log_format, config.log_level);
    if (inv.seed_users) {
        try {
            natter::App app(config);
            app.seed_users(*inv.seed_users, std::cout);
            return 0;
        } catch (const std::exception& e) {
            std::cerr << "natterd: " << e.what() << "\n";
            return 1;
        }
    }

    // Signals are taken by sigwait below, not by whichever thread they hit.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
    ::umask(077);  // the database holds password and token hashes: files are the owner's alone

    try {
        natter::App app(config);
        auto port = app.start();
        std::printf("natterd: listening on %s://%s:%u (data in %s)\n", config.tls.enabled() ? "https" : "http",
                    config.host.c_str(), unsigned(port), config.data_dir.c_str());
        std::fflush(stdout);
        natter::log_event(natter::LogLevel::info, "listening",
                          {{"address", config.host + ":" + std::to_string(port)},
                           {"tls", config.tls.enabled() ? "on" : "off"},
                           {"data", config.data_dir}});
        int sig = 0;
        sigwait(&signals, &sig);
        // SIGTERM: report not ready, let the load balancer move new traffic
        // away for the grace period, then close sockets with 1012 and finish
        // the sends already accepted. SIGINT (a terminal's ^C) skips the grace.
        natter::log_event(natter::LogLevel::info, "draining",
                          {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}, {"grace_s", config.drain_grace_s}});
        app.drain(sig == SIGTERM ? std::chrono::seconds(config.drain_grace_s) : std::chrono::seconds(0));
        natter::log_event(natter::LogLevel::info, "stopped", {});
        if (app.lease_lost()) {
            std::cerr << "natterd: another natterd holds server.node_id " << *config.node_id
                      << ": give each node its own id\n";
            return 2;  // a setting to fix: not restarted by deploy/natterd.service
        }
    } catch (const std::exception& e) {
        std::cerr << "natterd: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
