// natterd: the chat server. With no flags it serves the embedded default on
// 127.0.0.1:8080 with its data in ./data.
#include <sys/stat.h>

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

void add_limit_options(CLI::App& cli, natter::Limits& l) {
    auto* g = cli.add_option_group("Limits", "every bound natterd enforces (docs/PROTOCOL.md, Limits)");
    g->add_option("--max-frame-bytes", l.max_frame_bytes, "largest WebSocket frame; larger closes 1009")->capture_default_str();
    g->add_option("--max-http-body-bytes", l.max_http_body_bytes, "largest HTTP body; larger gets 413")->capture_default_str();
    g->add_option("--max-body-chars", l.max_body_chars, "code points in a message body")->capture_default_str();
    g->add_option("--max-devices", l.max_devices, "devices per user")->capture_default_str();
    g->add_option("--push-window", l.push_window, "unacked pushes per socket")->capture_default_str();
    g->add_option("--outbound-queue-bytes", l.outbound_queue_bytes, "queued bytes per socket; more closes 4008")->capture_default_str();
    g->add_option("--max-ack-ids", l.max_ack_ids, "message ids in one ack frame")->capture_default_str();
    g->add_option("--send-rate", l.send_rate_per_s, "sends per user per second")->capture_default_str();
    g->add_option("--send-burst", l.send_burst, "burst of sends per user")->capture_default_str();
    g->add_option("--frame-rate", l.frame_rate_per_s, "frames per socket per second")->capture_default_str();
    g->add_option("--frame-burst", l.frame_burst, "burst of frames per socket; past it closes 1008")->capture_default_str();
    g->add_option("--login-rate", l.login_rate_per_s, "sign-in attempts per username per second")->capture_default_str();
    g->add_option("--login-burst", l.login_burst, "burst of sign-in attempts per username")->capture_default_str();
    g->add_option("--access-ttl", l.access_ttl_s, "access token lifetime, seconds")->capture_default_str();
    g->add_option("--refresh-ttl", l.refresh_ttl_s, "refresh token lifetime, seconds")->capture_default_str();
    g->add_option("--ticket-ttl", l.ticket_ttl_s, "WebSocket ticket lifetime, seconds")->capture_default_str();
    g->add_option("--max-connections", l.max_connections, "WebSockets per process; more get 503")->capture_default_str();
    g->add_option("--max-pending-requests", l.max_pending_requests, "HTTP requests waiting for a worker; more get 503")->capture_default_str();
    g->add_option("--max-pending-writes", l.max_pending_writes, "sends waiting for the store; more get unavailable")->capture_default_str();
}

}  // namespace

int main(int argc, char** argv) {
    natter::Config config;
    std::string listen = "127.0.0.1:8080";
    CLI::App cli{"natterd: a chat server (see README.md)"};
    cli.add_option("--listen", listen, "HOST:PORT to listen on (port 0: any free port)")->capture_default_str();
    cli.add_option("--data", config.data_dir, "data directory (SQLite file, token key)")->capture_default_str();
    cli.add_option("--threads", config.io_threads, "I/O threads (0: one per core)")->capture_default_str();
    cli.add_option("--node-id", config.node_id, "node id in message ids, 0..1023 (default: generated once, kept in the store)")
        ->check(CLI::Range(0, 1023));
    add_limit_options(cli, config.limits);
    auto* r = cli.add_option_group("Retention", "what is kept, and for how long (docs/RETENTION.md)");
    r->add_option("--history-retention", config.retention.history_s, "seconds history is kept; 0: none beyond delivery")->capture_default_str();
    r->add_option("--inbox-retention", config.retention.inbox_s, "seconds an undelivered inbox row is kept")->capture_default_str();
    r->add_option("--sweep-interval", config.retention.sweep_interval_s, "seconds between retention sweeps")->capture_default_str();
    CLI11_PARSE(cli, argc, argv);
    if (!parse_listen(listen, config)) {
        std::cerr << "natterd: --listen must be HOST:PORT, e.g. 127.0.0.1:8080 (got '" << listen << "')\n";
        return 2;
    }
    if (auto problem = natter::check_limits(config.limits); !problem.empty()) {
        std::cerr << "natterd: " << problem << "\n";
        return 2;
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
