#pragma once
// The `offline`, `connections` and `group` scenarios (issue 4). Each speaks
// only the public protocol through the shared client connection (ws_conn.hpp)
// on one io_context thread (group also makes one HTTP call, http_client.hpp),
// and reports a flat JSON object (`--json`) or a table.

#include "bench/users.hpp"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace natter::bench {

// offline: user 0 queues `count` messages for user 1 while user 1 is not
// connected (window = sends without a `sent` yet); once every `sent` is in,
// user 1 connects and the drain is timed from the connect until every
// message has arrived (acked in batches) and `sync_done` came. The delivery
// checker proves all arrived once, in seq order.
struct OfflineOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    std::vector<BenchUser> users;     // the first two are used
    std::uint64_t count = 10000;
    std::uint64_t window = 256;       // sends in flight (no `sent` yet)
    std::uint64_t ack_batch = 64;
    double timeout_s = 120;           // the whole run
    bool progress = true;
};

// connections: N idle authenticated sockets (socket i as user i, each from
// its own 127.x.y.z address); connect rate, natterd's RSS (--server-pid) and
// the kernel's TCP socket memory before and after, held for `hold_s`.
struct ConnectionsOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    std::vector<BenchUser> users;     // at least `count`
    std::uint64_t count = 1000;
    std::uint64_t max_connecting = 128;
    double hold_s = 2;
    double connect_timeout_s = 120;
    long server_pid = 0;              // 0: no RSS figures
    bool progress = true;
};

// group: user 0 creates a group of `members` (itself and users 1..M-1) over
// HTTP, every member connects and drains its inbox (the creation `system`
// message, seq 1, acked like everything else), then user 0 sends `messages`
// into the group, open loop at `rate` or closed loop with `window` messages
// not yet delivered to every member. Each member acks in batches. Reports
// the fan-out (deliveries = messages x (M-1) member devices) per second and
// send -> delivery latency; `verify` proves every member got every message
// once, at the seq its `sent` gave, gapless from the creation message.
struct GroupOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    std::vector<BenchUser> users;     // the first `members`; user 0 creates the group and sends
    std::uint64_t members = 50;       // group size, the creator included
    std::uint64_t messages = 1000;    // sends into the group
    double rate = 0;                  // > 0: open loop, sends/s; 0: closed loop
    std::uint64_t window = 16;        // closed loop: messages not yet delivered to every member
    std::uint64_t ack_batch = 64;     // ack when this many are pending, or on the 20 ms tick
    std::uint64_t max_connecting = 128;
    std::uint64_t source_ips = 0;     // distinct 127.x.y.z source addresses; 0: one per socket
    double connect_timeout_s = 60;    // creating the group, connecting and draining every member
    double timeout_s = 120;           // from the first send until every delivery
    std::string name = "natter-bench";  // the group's name (the run's tag is appended)
    bool verify = false;
    bool progress = true;
};

// Each returns its report; "ok" says whether the run delivered everything
// (offline, group) or held every connection (connections). Throws
// std::runtime_error when it cannot start.
nlohmann::json run_offline(const OfflineOptions& o);
nlohmann::json run_connections(const ConnectionsOptions& o);
nlohmann::json run_group(const GroupOptions& o);

// A report as "  key   value" lines (nested objects flattened with '.').
std::string scenario_table(const nlohmann::json& report);

}  // namespace natter::bench
