#pragma once
// The `direct` scenario: user 2k sends 1:1 messages to user 2k+1 over the
// public WebSocket protocol, open loop at a fixed total rate or closed loop
// with a window of messages in flight per sender; every received message is
// acked in batches. All sockets live on one io_context thread. With
// `reconnect` it rides out a server restart, a node killed or drained behind
// a proxy, or a store that answers `unavailable`, and measures the delay.

#include "bench/report.hpp"
#include "bench/users.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace natter::bench {

struct DirectOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    std::vector<BenchUser> users;     // an even number are used: 2k sends to 2k+1
    std::uint64_t pairs = 0;          // 0: every pair the users make
    double rate = 0;                  // > 0: open loop, sends/s over all senders
    std::uint64_t window = 16;        // closed loop: messages in flight per sender
    double duration_s = 10;
    double drain_s = 10;              // after the window: wait this long for every send to land
    double connect_timeout_s = 60;
    std::uint64_t source_ips = 0;     // distinct 127.x.y.z source addresses; 0: one per socket
    std::uint64_t max_connecting = 128;
    std::uint64_t ack_batch = 64;     // ack when this many are pending, or on the 20 ms tick
    bool verify = false;
    // Survive faults: a socket that ends during the run is opened again
    // (backoff 50 ms doubling to 2 s, with jitter; not after 4001/4002-like
    // close codes or an HTTP 400/401/403/404), sends without a `sent` are
    // written again with the same client_msg_id once it is back, and a send
    // refused with `unavailable` or `rate_limited` is written again after its
    // retry_after_ms. Retries go before new sends. Sockets also get a 10 s
    // idle timeout (keep-alive pings), so a peer that vanished is noticed.
    bool reconnect = false;
    bool progress = true;             // the once-a-second line on stderr
};

// Runs the scenario; throws std::runtime_error when it cannot start (bad
// options, sockets that do not connect within the timeout).
RunResult run_direct(const DirectOptions& options);

}  // namespace natter::bench
