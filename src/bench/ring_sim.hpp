#pragma once
// `natter-bench ring`: the consistent-hash ring (src/core/hash_ring.hpp)
// measured by simulation, no server involved.
//  (a) moves: the share of users whose shard changes when the ring grows
//      from n to n+1 shards, against the ideal 1/(n+1), and how many of them
//      went anywhere but the new shard (must be 0);
//  (b) balance: users per shard against the mean (max, min, standard
//      deviation) for each vnode count and shard count, beside the exact
//      share of the circle the largest shard owns; since one ring is one
//      draw, the same over other sets of shard names (arcs only, no users:
//      their mean is what a vnode count gives, their worst what it risks);
//      and the time of one lookup (hash + binary search) in random order.
// Shards are named pg-1..pg-N (the other name sets: s<k>-pg-1..). Every
// user's key is hashed once; each ring is then one binary search per user.

#include "core/hash_ring.hpp"

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace natter::bench {

struct RingSimOptions {
    std::uint64_t users = 1000000;
    // "snowflake": ids as natterd's IdGenerator makes them, sign-ups spread
    // evenly over two years from 2024-01-01 across 16 nodes; "sequential": 1..users.
    std::string ids = "snowflake";
    std::size_t max_shards = 16;                         // (a): n = 1 .. max_shards - 1
    std::size_t move_vnodes = HashRing::kDefaultVnodes;  // (a): vnodes per shard
    std::vector<std::size_t> vnodes = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};  // (b)
    std::vector<std::size_t> shards = {3, 8, 16};                                     // (b)
    std::size_t name_sets = 100;                         // (b): name sets for the arc mean and worst (0: none)
};

// The report: {"scenario": "ring", users, ids, moves: [...], balance: [...],
// hash_s, elapsed_s, ok}; ok says no key moved anywhere but to the new shard.
// Throws std::invalid_argument on options it cannot run.
nlohmann::json run_ring_sim(const RingSimOptions& o);

// The report as two Markdown tables (they paste into docs/SCALE.md as is).
std::string ring_table(const nlohmann::json& report);

}  // namespace natter::bench
