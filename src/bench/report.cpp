#include "bench/report.hpp"

#include <cstdio>
#include <sstream>

namespace natter::bench {

namespace {
std::string ms(std::uint64_t ns) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3f ms", static_cast<double>(ns) / 1e6);
    return b;
}

void row(std::ostringstream& o, const std::string& k, const std::string& v) {
    char b[64];
    std::snprintf(b, sizeof b, "  %-22s ", k.c_str());
    o << b << v << "\n";
}

std::string num(double v, int decimals = 0) {
    char b[32];
    std::snprintf(b, sizeof b, "%.*f", decimals, v);
    return b;
}

constexpr double kPercentiles[] = {50, 90, 99, 99.9};
}  // namespace

std::string to_table(const RunResult& r) {
    std::ostringstream o;
    o << "natter-bench " << r.scenario << " against " << r.target << "\n";
    row(o, "load", r.mode == "closed" ? "closed loop, window " + std::to_string(r.window) + " per sender"
                                      : "open loop, " + num(r.rate) + " sends/s offered");
    row(o, "connections", std::to_string(r.connections) + " (" + std::to_string(r.pairs) + " pairs)");
    row(o, "connect", num(r.connect_s, 3) + " s");
    row(o, "duration", num(r.duration_s, 3) + " s");
    row(o, "sends", std::to_string(r.sends) + " (" + num(r.duration_s > 0 ? r.sends / r.duration_s : 0) + "/s)");
    row(o, "delivered", std::to_string(r.delivered) + " (" + num(r.throughput()) + " msgs/s)");
    row(o, "sent answers / errors", std::to_string(r.sent_ok) + " / " + std::to_string(r.errors));
    row(o, "ack frames", std::to_string(r.ack_frames));
    if (r.stale) row(o, "stale messages", std::to_string(r.stale));
    if (r.backlog_skips) row(o, "backlog skips", std::to_string(r.backlog_skips));
    row(o, "disconnects", std::to_string(r.disconnects));
    if (r.reconnect) {
        row(o, "reconnects", std::to_string(r.reconnects) + " (" + std::to_string(r.reconnect_failures) +
                                 " failed attempts, longest down " + ms(r.longest_down_ns) + ")");
        row(o, "retries", std::to_string(r.retries) + " (" + std::to_string(r.retryable_errors) + " after unavailable/rate_limited)");
        if (r.abandoned) row(o, "sockets given up", std::to_string(r.abandoned));
    }
    for (const auto& e : r.disconnect_examples) row(o, "disconnect", e);
    row(o, "drained", r.drained ? "yes" : "no");
    if (r.undelivered) row(o, "undelivered", std::to_string(r.undelivered));
    for (double p : kPercentiles) row(o, "latency p" + num(p, p == 99.9 ? 1 : 0), ms(r.latency.percentile(p)));
    row(o, "latency max", ms(r.latency.max()));
    row(o, "max delivery", ms(r.max_delivery_ns) + " (send to first delivery, whole run)");
    row(o, "longest stall", ms(r.longest_stall_ns) + (r.longest_stall_ns ? " (pair " + std::to_string(r.longest_stall_pair) +
                                                                             ", from " + num(r.longest_stall_from_s, 3) + " s)"
                                                                       : ""));
    for (const auto& e : r.error_examples) row(o, "error", e);
    if (r.check) {
        const auto& c = *r.check;
        o << "verify: " << (c.ok() ? "OK" : "FAILED") << "\n";
        row(o, "sent recorded", std::to_string(c.sent));
        row(o, "messages recorded", std::to_string(c.received));
        row(o, "devices / runs", std::to_string(c.devices) + " / " + std::to_string(c.runs));
        row(o, "lost", std::to_string(c.lost));
        row(o, "duplicates", std::to_string(c.duplicates));
        row(o, "order violations", std::to_string(c.order));
        row(o, "mismatched", std::to_string(c.mismatched));
        if (c.redelivered) row(o, "redelivered", std::to_string(c.redelivered) + " (again on a later connection: allowed)");
        if (r.send_order_violations) row(o, "send order", std::to_string(r.send_order_violations) + " sends committed after a later one (informational)");
        for (const auto& e : c.examples) o << "  " << e << "\n";
    }
    return o.str();
}

nlohmann::json latency_json(const Histogram& h) {
    nlohmann::json lat = {{"count", h.count()}, {"mean_ns", h.mean()}, {"min_ns", h.min()}, {"max_ns", h.max()}};
    lat["p50_ns"] = h.percentile(50);
    lat["p90_ns"] = h.percentile(90);
    lat["p99_ns"] = h.percentile(99);
    lat["p99_9_ns"] = h.percentile(99.9);
    return lat;
}

nlohmann::json check_json(const CheckReport& c) {
    return {{"ok", c.ok()}, {"sent", c.sent}, {"expected", c.expected}, {"received", c.received},
            {"devices", c.devices}, {"runs", c.runs}, {"lost", c.lost}, {"duplicates", c.duplicates},
            {"order", c.order}, {"mismatched", c.mismatched}, {"redelivered", c.redelivered},
            {"examples", c.examples}};
}

nlohmann::json to_json(const RunResult& r) {
    nlohmann::json j = {{"scenario", r.scenario}, {"target", r.target}, {"mode", r.mode},
                        {"window", r.window}, {"rate", r.rate}, {"connections", r.connections},
                        {"pairs", r.pairs}, {"connect_s", r.connect_s}, {"duration_s", r.duration_s},
                        {"sends", r.sends}, {"sent_ok", r.sent_ok}, {"errors", r.errors},
                        {"delivered", r.delivered}, {"delivered_total", r.delivered_total},
                        {"throughput_msgs_per_s", r.throughput()}, {"stale", r.stale},
                        {"ack_frames", r.ack_frames}, {"backlog_skips", r.backlog_skips},
                        {"disconnects", r.disconnects}, {"drained", r.drained},
                        {"reconnect", r.reconnect}, {"reconnects", r.reconnects},
                        {"reconnect_failures", r.reconnect_failures}, {"abandoned_sockets", r.abandoned},
                        {"longest_down_ms", static_cast<double>(r.longest_down_ns) / 1e6},
                        {"retries", r.retries}, {"retryable_errors", r.retryable_errors},
                        {"disconnect_examples", r.disconnect_examples},
                        {"max_delivery_ms", static_cast<double>(r.max_delivery_ns) / 1e6},
                        {"longest_stall_ms", static_cast<double>(r.longest_stall_ns) / 1e6},
                        {"longest_stall_pair", r.longest_stall_pair}, {"longest_stall_from_s", r.longest_stall_from_s},
                        {"undelivered", r.undelivered}, {"send_order_violations", r.send_order_violations},
                        {"error_examples", r.error_examples}, {"latency", latency_json(r.latency)}, {"ok", r.ok()}};
    if (r.check) j["verify"] = check_json(*r.check);
    return j;
}

}  // namespace natter::bench
