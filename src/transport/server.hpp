#pragma once
// The network front: HTTP and WebSocket on Boost.Beast. Beast and Asio stay
// inside server.cpp, ws_session.cpp and blocking_pool.cpp.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "chat/accounts.hpp"
#include "chat/messaging.hpp"
#include "core/address.hpp"
#include "core/limits.hpp"
#include "ports/clock.hpp"
#include "sessions/session_registry.hpp"
#include "transport/http_api.hpp"

namespace natter {

class PresenceService;
class BlobEndpoint;
class StaticFiles;

struct ServerConfig {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8080;  // 0: any free port
    std::size_t io_threads = 2;
    std::chrono::milliseconds close_grace{2000};  // stop(): how long sockets get to close cleanly
    // Browser origins, besides the server's own, whose pages may open a
    // WebSocket (core/url.hpp origin_allowed).
    std::vector<std::string> allowed_origins;
    // Who a request comes from, for limits per client address.
    AddressPolicy addresses;
    // Both set: the listener speaks HTTPS and WSS only (PEM files; the
    // certificate file may hold its chain after it). start() throws when
    // they do not load or do not match.
    std::string tls_cert_file, tls_key_file;
    // A connection must finish its TLS handshake within this (as long as
    // an HTTP read may take by default), or it is dropped.
    std::chrono::milliseconds tls_handshake_timeout{30000};
};

// What the transport calls into.
struct ServerDeps {
    HttpApi& api;
    AccountService& accounts;
    MessagingService& messaging;
    SessionRegistry& registry;
    const Limits& limits;
    const Clock& clock;
    std::function<void(std::function<void()>)> blocking;  // runs work off the I/O threads
    PresenceService* presence = nullptr;                   // presence and typing; none: refused
    BlobEndpoint* blobs = nullptr;                         // /v1/blobs/: natterd as the local blob store
    const StaticFiles* web = nullptr;                      // the web client's files, at every other GET
};

class Server {
public:
    Server(ServerConfig config, ServerDeps deps);
    ~Server();
    // Binds and starts the I/O threads; returns the bound port.
    std::uint16_t start();
    // Stops accepting, closes every WebSocket with `close_code`, stops the threads.
    void stop(int close_code = 1012);
    std::size_t connections() const;
    struct Stats {
        std::uint64_t frames_in = 0, frames_out = 0, http_requests = 0;
        std::uint64_t refused_per_address = 0;  // connections closed at accept: limits.max_connections_per_address
    };
    Stats stats() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// A fixed pool of threads for work that may block (store, argon2).
class BlockingPool {
public:
    explicit BlockingPool(std::size_t threads);
    ~BlockingPool();
    void post(std::function<void()> fn);
    void join();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace natter
