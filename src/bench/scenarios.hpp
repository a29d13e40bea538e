#pragma once
// The `offline` and `connections` scenarios (issue 4). Both speak only the
// public protocol through the shared client connection (ws_conn.hpp) on one
// io_context thread, and report a flat JSON object (`--json`) or a table.

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

// group: one sender into a group of `members`. Until the server has groups
// it probes with one send to a group and reports `skipped` with the reason.
struct GroupOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    std::vector<BenchUser> users;
    std::uint64_t members = 50;
};

// Each returns its report; "ok" says whether the run delivered everything
// (offline) or held every connection (connections). Throws
// std::runtime_error when it cannot start.
nlohmann::json run_offline(const OfflineOptions& o);
nlohmann::json run_connections(const ConnectionsOptions& o);
nlohmann::json run_group(const GroupOptions& o);

// A report as "  key   value" lines (nested objects flattened with '.').
std::string scenario_table(const nlohmann::json& report);

}  // namespace natter::bench
