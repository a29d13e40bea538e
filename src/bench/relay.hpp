#pragma once
// The raw relay: the throughput limit natterd is measured against. A Beast
// WebSocket server that takes `/v1/ws?user=ID` without auth, forwards each
// `send` frame's body to the addressed user's socket as a `message`, and
// answers the sender with `sent`. No storage, no auth, no JSON parser: just
// enough protocol that the `direct` scenario runs against it unchanged.

#include <cstdint>
#include <functional>
#include <string>

namespace natter::bench {

struct RelayOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    unsigned threads = 1;
};

// Serves until SIGINT or SIGTERM. Calls `on_listening(port)` once it accepts.
// Throws std::runtime_error when it cannot listen.
void run_relay(const RelayOptions& options, const std::function<void(std::uint16_t)>& on_listening);

}  // namespace natter::bench
