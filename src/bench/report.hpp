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
    // --reconnect (direct): sockets that ended are opened again, and sends
    // without a `sent` written again with the same client_msg_id.
    bool reconnect = false;
    std::uint64_t reconnects = 0;          // sockets opened again and synced (sync_done)
    std::uint64_t reconnect_failures = 0;  // reconnect attempts that failed (refused, 503, closed before sync_done)
    std::uint64_t abandoned = 0;           // sockets given up on (a close code or HTTP status not to retry)
    std::uint64_t longest_down_ns = 0;     // longest time from a socket's end to its successor's sync_done
    std::uint64_t retries = 0;             // sends written again (after a reconnect or a retryable error)
    std::uint64_t retryable_errors = 0;    // `unavailable` / `rate_limited` answers that were retried
    std::vector<std::string> disconnect_examples;
    // Delivery delay, whole run (window and drain), first arrival per message:
    std::uint64_t max_delivery_ns = 0;     // longest first send -> first delivery
    std::uint64_t longest_stall_ns = 0;    // longest time a recipient with messages owed got none
    std::uint64_t longest_stall_pair = 0;
    double longest_stall_from_s = 0;       // when that stall began, from the window's start
    std::uint64_t undelivered = 0;         // sends neither delivered nor refused when the run ended
    std::uint64_t send_order_violations = 0;  // --verify: a sender's sends committed out of send order
    std::vector<std::string> error_examples;
    Histogram latency;               // ns, send to receive, for deliveries in the window
    std::optional<CheckReport> check;

    double throughput() const { return duration_s > 0 ? static_cast<double>(delivered) / duration_s : 0; }
    // Without --reconnect any drop fails the run; with it, a socket given up
    // on or a drain that did not finish (something owed never arrived) does.
    bool ok() const {
        bool sockets = reconnect ? abandoned == 0 && drained : disconnects == 0;
        return sockets && delivered_total > 0 && (!check || check->ok());
    }
};

std::string to_table(const RunResult& r);
nlohmann::json to_json(const RunResult& r);

// A latency histogram (ns) as {count, mean_ns, min_ns, max_ns, p50_ns, p90_ns, p99_ns, p99_9_ns}.
nlohmann::json latency_json(const Histogram& h);
// A delivery check as the `verify` object of the JSON reports.
nlohmann::json check_json(const CheckReport& c);

}  // namespace natter::bench
