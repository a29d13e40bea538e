#pragma once
// What a scenario run measured, and its two renderings: a table for humans
// on stdout and a JSON object for scripts (`--json`).

#include "bench/checker.hpp"
#include "bench/histogram.hpp"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace natter::bench {

struct RunResult {
    std::string scenario;            // "direct"
    std::string target;              // host:port
    std::string mode;                // "closed" or "open"
    std::uint64_t window = 0;        // closed loop: sends in flight per sender
    double rate = 0;                 // open loop: offered sends/s, all senders together
    std::uint64_t connections = 0, pairs = 0;
    double connect_s = 0;            // time to open every socket and see its sync_done
    double duration_s = 0;           // the measured window
    std::uint64_t sends = 0;         // `send` frames written in the window
    std::uint64_t sent_ok = 0;       // `sent` answers, whole run
    std::uint64_t errors = 0;        // `error` answers, whole run
    std::uint64_t delivered = 0;     // `message` frames received in the window
    std::uint64_t delivered_total = 0;
    std::uint64_t stale = 0;         // messages from before this run (an earlier run's leftovers)
    std::uint64_t ack_frames = 0;
    std::uint64_t backlog_skips = 0; // open loop: sends skipped because a socket's queue was full
    std::uint64_t disconnects = 0;   // sockets that closed before the end
    bool drained = false;            // every send answered and delivered before the drain deadline
    std::vector<std::string> error_examples;
    Histogram latency;               // ns, send to receive, for deliveries in the window
    std::optional<CheckReport> check;

    double throughput() const { return duration_s > 0 ? static_cast<double>(delivered) / duration_s : 0; }
    bool ok() const { return disconnects == 0 && delivered_total > 0 && (!check || check->ok()); }
};

std::string to_table(const RunResult& r);
nlohmann::json to_json(const RunResult& r);

// A latency histogram (ns) as {count, mean_ns, min_ns, max_ns, p50_ns, p90_ns, p99_ns, p99_9_ns}.
nlohmann::json latency_json(const Histogram& h);
// A delivery check as the `verify` object of the JSON reports.
nlohmann::json check_json(const CheckReport& c);

}  // namespace natter::bench
