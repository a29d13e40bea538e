#include "bench/ring_sim.hpp"

#include "core/hash_ring.hpp"
#include "core/ids.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <stdexcept>

namespace natter::bench {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// splitmix64: a fixed, fully specified sequence, so every run and machine
// simulates the same users.
std::uint64_t splitmix(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
    z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
    return z ^ (z >> 31);
}

std::vector<UserId> user_ids(const RingSimOptions& o) {
    std::vector<UserId> ids;
    ids.reserve(o.users);
    if (o.ids == "sequential") {
        for (std::uint64_t i = 1; i <= o.users; ++i) ids.push_back(i);
        return ids;
    }
    // One sign-up in each of `users` equal slices of two years, at a random
    // moment of its slice, on a random one of 16 nodes.
    constexpr std::int64_t kSpanMs = 2 * 36525LL * 864000;  // two years of 365.25 days
    const std::int64_t slice = std::max<std::int64_t>(1, kSpanMs / static_cast<std::int64_t>(o.users));
    std::deque<IdGenerator> nodes;
    for (std::uint32_t n = 0; n < 16; ++n) nodes.emplace_back(n);
    std::uint64_t state = 1;
    for (std::uint64_t i = 0; i < o.users; ++i) {
        const std::int64_t at = IdGenerator::kEpochMs + static_cast<std::int64_t>(i) * slice +
                                static_cast<std::int64_t>(splitmix(state) % static_cast<std::uint64_t>(slice));
        ids.push_back(nodes[splitmix(state) % nodes.size()].next(at));
    }
    return ids;
}

std::vector<std::string> shard_names(std::size_t n, const std::string& prefix = "pg-") {
    std::vector<std::string> out;
    for (std::size_t i = 1; i <= n; ++i) out.push_back(prefix + std::to_string(i));
    return out;
}

std::vector<std::uint32_t> assign(const HashRing& ring, const std::vector<std::uint64_t>& positions) {
    std::vector<std::uint32_t> out(positions.size());
    for (std::size_t k = 0; k < positions.size(); ++k) out[k] = static_cast<std::uint32_t>(ring.shard_of_hash(positions[k]));
    return out;
}

nlohmann::json moves(const RingSimOptions& o, const std::vector<std::uint64_t>& positions) {
    nlohmann::json rows = nlohmann::json::array();
    auto before = assign(HashRing(shard_names(1), o.move_vnodes), positions);
    for (std::size_t n = 1; n < o.max_shards; ++n) {
        auto after = assign(HashRing(shard_names(n + 1), o.move_vnodes), positions);
        std::uint64_t moved = 0, elsewhere = 0;
        for (std::size_t k = 0; k < positions.size(); ++k) {
            if (before[k] == after[k]) continue;
            ++moved;
            if (after[k] != n) ++elsewhere;  // the new shard is the last name, index n
        }
        const double share = static_cast<double>(moved) / static_cast<double>(positions.size());
        const double ideal = 1.0 / static_cast<double>(n + 1);
        rows.push_back({{"from", n}, {"to", n + 1}, {"moved", moved}, {"moved_share", share}, {"ideal", ideal},
                        {"ratio", share / ideal}, {"moved_elsewhere", elsewhere}});
        before = std::move(after);
    }
    return rows;
}

double arc_max_over_mean(const HashRing& ring) {
    const auto arcs = ring.arc_shares();
    return *std::max_element(arcs.begin(), arcs.end()) * static_cast<double>(arcs.size());
}

// Nanoseconds per shard_of (hash and search), keys in id order, i.e. random
// positions on the circle; the best of three passes, against other load.
double lookup_ns(const HashRing& ring, const std::vector<std::string>& keys) {
    double best = 0;
    std::size_t sink = 0;
    for (int pass = 0; pass < 3; ++pass) {
        const auto start = Clock::now();
        for (const auto& k : keys) sink += ring.shard_of(k);
        const double ns = seconds_since(start) * 1e9 / static_cast<double>(keys.size());
        if (pass == 0 || ns < best) best = ns;
    }
    volatile std::size_t keep = sink;  // so the loop is not optimised away
    (void)keep;
    return best;
}

nlohmann::json balance_row(const RingSimOptions& o, std::size_t n, std::size_t vnodes,
                           const std::vector<std::uint64_t>& positions, const std::vector<std::string>& sample) {
    const HashRing ring(shard_names(n), vnodes);
    std::vector<double> load(n, 0.0);
    for (auto p : positions) load[ring.shard_of_hash(p)] += 1;
    const double mean = static_cast<double>(positions.size()) / static_cast<double>(n);
    double square_sum = 0;
    for (double l : load) square_sum += (l - mean) * (l - mean);
    const double stddev = std::sqrt(square_sum / static_cast<double>(n));
    nlohmann::json row = {{"vnodes", vnodes},
                          {"shards", n},
                          {"max_over_mean", *std::max_element(load.begin(), load.end()) / mean},
                          {"min_over_mean", *std::min_element(load.begin(), load.end()) / mean},
                          {"stddev", stddev},
                          {"stddev_over_mean", stddev / mean},
                          {"arc_max_over_mean", arc_max_over_mean(ring)},
                          {"lookup_ns", lookup_ns(ring, sample)}};
    if (o.name_sets > 0) {
        double sum = 0, worst = 0;
        for (std::size_t k = 1; k <= o.name_sets; ++k) {
            const double m = arc_max_over_mean(HashRing(shard_names(n, "s" + std::to_string(k) + "-pg-"), vnodes));
            sum += m;
            worst = std::max(worst, m);
        }
        row["name_sets"] = {{"count", o.name_sets}, {"arc_max_over_mean_mean", sum / static_cast<double>(o.name_sets)},
                            {"arc_max_over_mean_worst", worst}};
    }
    return row;
}

void check(const RingSimOptions& o) {
    if (o.users == 0) throw std::invalid_argument("--users must be at least 1");
    if (o.ids != "snowflake" && o.ids != "sequential") throw std::invalid_argument("--ids must be snowflake or sequential");
    if (o.max_shards < 2 || o.max_shards > 1024) throw std::invalid_argument("--max-shards must be 2..1024");
    if (o.vnodes.empty() || o.shards.empty()) throw std::invalid_argument("--vnodes and --shards need at least one value");
    for (auto s : o.shards)
        if (s < 1 || s > 1024) throw std::invalid_argument("--shards values must be 1..1024");
    // vnode counts outside 1..4096 are refused by HashRing itself.
}

std::string grouped(std::uint64_t v) {
    std::string digits = std::to_string(v), out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

std::string fixed(double v, int decimals) {
    char b[48];
    std::snprintf(b, sizeof b, "%.*f", decimals, v);
    return b;
}

}  // namespace

nlohmann::json run_ring_sim(const RingSimOptions& o) {
    check(o);
    const auto start = Clock::now();
    const auto ids = user_ids(o);
    const auto hashing = Clock::now();
    std::vector<std::uint64_t> positions;
    positions.reserve(ids.size());
    for (auto id : ids) positions.push_back(HashRing::hash(ring_key_user(id)));
    const double hash_s = seconds_since(hashing);
    std::vector<std::string> sample;  // for the lookup timing
    for (std::size_t i = 0; i < std::min<std::size_t>(ids.size(), 200000); ++i) sample.push_back(ring_key_user(ids[i]));
    // In circle order every ring's binary searches walk memory in order:
    // the same answers, far fewer cache misses.
    std::sort(positions.begin(), positions.end());

    nlohmann::json report = {{"scenario", "ring"}, {"users", o.users}, {"ids", o.ids}, {"move_vnodes", o.move_vnodes},
                             {"name_sets", o.name_sets}};
    report["moves"] = moves(o, positions);
    nlohmann::json balance = nlohmann::json::array();
    for (auto v : o.vnodes)
        for (auto n : o.shards) balance.push_back(balance_row(o, n, v, positions, sample));
    report["balance"] = balance;
    bool ok = true;
    for (const auto& m : report["moves"]) ok = ok && m["moved_elsewhere"].get<std::uint64_t>() == 0;
    report["hash_s"] = hash_s;
    report["elapsed_s"] = seconds_since(start);
    report["ok"] = ok;
    return report;
}

std::string ring_table(const nlohmann::json& r) {
    const auto users = r["users"].get<std::uint64_t>();
    std::string out = "natter-bench ring: " + grouped(users) + " users (" + r["ids"].get<std::string>() +
                      " ids, key = decimal id), shards pg-1..pg-N\n\n";
    out += "Moved when the ring grows from n to n+1 shards (" + std::to_string(r["move_vnodes"].get<std::size_t>()) +
           " vnodes per shard):\n\n";
    out += "| n → n+1 | users moved | moved share | ideal 1/(n+1) | ratio | moved elsewhere |\n";
    out += "|---|---:|---:|---:|---:|---:|\n";
    for (const auto& m : r["moves"])
        out += "| " + std::to_string(m["from"].get<std::size_t>()) + " → " + std::to_string(m["to"].get<std::size_t>()) +
               " | " + grouped(m["moved"].get<std::uint64_t>()) + " | " + fixed(m["moved_share"].get<double>(), 4) +
               " | " + fixed(m["ideal"].get<double>(), 4) + " | " + fixed(m["ratio"].get<double>(), 3) + " | " +
               grouped(m["moved_elsewhere"].get<std::uint64_t>()) + " |\n";
    const auto sets = r["name_sets"].get<std::size_t>();
    out += "\nUsers per shard against the mean on pg-1..pg-n; arc: the largest share of the circle a shard owns,\n"
           "times n";
    if (sets > 0) out += ", on pg-1..pg-n and as mean and worst over " + std::to_string(sets) + " other name sets";
    out += "; lookup: ns per shard_of, keys in random order:\n\n";
    out += "| vnodes | shards | max/mean | min/mean | stddev (users) | stddev/mean | arc max/mean |";
    out += sets > 0 ? " name sets: mean | name sets: worst |" : "";
    out += " lookup ns |\n|---:|---:|---:|---:|---:|---:|---:|";
    out += sets > 0 ? "---:|---:|" : "";
    out += "---:|\n";
    for (const auto& b : r["balance"]) {
        out += "| " + std::to_string(b["vnodes"].get<std::size_t>()) + " | " + std::to_string(b["shards"].get<std::size_t>()) +
               " | " + fixed(b["max_over_mean"].get<double>(), 3) + " | " + fixed(b["min_over_mean"].get<double>(), 3) +
               " | " + grouped(static_cast<std::uint64_t>(std::llround(b["stddev"].get<double>()))) + " | " +
               fixed(100 * b["stddev_over_mean"].get<double>(), 1) + "% | " +
               fixed(b["arc_max_over_mean"].get<double>(), 3) + " | ";
        if (b.contains("name_sets"))
            out += fixed(b["name_sets"]["arc_max_over_mean_mean"].get<double>(), 3) + " | " +
                   fixed(b["name_sets"]["arc_max_over_mean_worst"].get<double>(), 3) + " | ";
        out += fixed(b["lookup_ns"].get<double>(), 0) + " |\n";
    }
    out += "\nhashed " + grouped(users) + " keys in " + fixed(r["hash_s"].get<double>(), 3) + " s; whole run " +
           fixed(r["elapsed_s"].get<double>(), 2) + " s; " +
           (r["ok"].get<bool>() ? "every moved user went to the new shard" : "FAILED: users moved between old shards") + "\n";
    return out;
}

}  // namespace natter::bench
