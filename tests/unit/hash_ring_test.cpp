// The consistent-hash ring (src/core/hash_ring.hpp): the hash against the
// xxhsum tool, the placement against the same placement redone in a shell,
// stability, independence from the order of names, minimal movement on a
// resize, balance with virtual nodes, and refused construction.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/conversation.hpp"
#include "core/hash_ring.hpp"

namespace {

using natter::HashRing;

std::vector<std::string> names(std::size_t n, const std::string& prefix = "pg-") {
    std::vector<std::string> out;
    for (std::size_t i = 1; i <= n; ++i) out.push_back(prefix + std::to_string(i));
    return out;
}

// User keys "1".."count", hashed once.
std::vector<std::uint64_t> user_positions(std::uint64_t count) {
    std::vector<std::uint64_t> out;
    out.reserve(count);
    for (std::uint64_t id = 1; id <= count; ++id) out.push_back(HashRing::hash(natter::ring_key_user(id)));
    return out;
}

std::vector<std::size_t> loads(const HashRing& ring, const std::vector<std::uint64_t>& positions) {
    std::vector<std::size_t> out(ring.shards().size(), 0);
    for (auto p : positions) ++out[ring.shard_of_hash(p)];
    return out;
}

double max_over_mean(const std::vector<std::size_t>& load) {
    double total = 0;
    for (auto l : load) total += static_cast<double>(l);
    return static_cast<double>(*std::max_element(load.begin(), load.end())) / (total / load.size());
}

// Reference values of XXH3_64bits (seed 0), from the xxhsum 0.8.1 command
// line tool (Debian package `xxhash`), not from the library under test:
//   printf %s 'd:17:42' | xxhsum -H3            -> XXH3 (stdin) = 9836d935f810ba91
//   printf 'x%.0s' $(seq 200) | xxhsum -H3     (200 times 'x')
// The lengths cover each of XXH3's code paths: 0, 1-3, 4-8, 9-16, 17-128,
// 129-240 and longer than 240 bytes.
TEST(HashRingHash, MatchesXxhsum) {
    struct Golden {
        std::string text;
        std::uint64_t xxh3;
    };
    const Golden golden[] = {
        {"", 0x2d06800538d394c2},
        {"a", 0xe6c632b61e964e1f},
        {"42", 0x1217cb28c0ef2191},
        {"natter", 0x064014cc93b6996c},
        {"d:17:42", 0x9836d935f810ba91},
        {"pg-1#0", 0x6cad70f58c33282e},
        {"shard-0#0", 0xc09310d629926a6c},
        {"g:123456789012345678", 0x46673645588d8506},
        {std::string(200, 'x'), 0x50ef124fb1e4de53},
        {std::string(5000, 'x'), 0x8d8567cbc9ee3d90},
    };
    for (const auto& g : golden) EXPECT_EQ(HashRing::hash(g.text), g.xxh3) << "length " << g.text.size();
}

// Owners from scripts/ring-where.sh (xxhsum, sort and awk), e.g.
//   scripts/ring-where.sh d:17:42 4 pg-1 pg-2 pg-3  -> pg-3
TEST(HashRing, PlacesKeysAsTheShellScriptDoes) {
    const HashRing small(names(3), 4);
    const std::pair<const char*, const char*> on_small[] = {
        {"1", "pg-2"}, {"2", "pg-3"}, {"3", "pg-3"}, {"4", "pg-2"}, {"5", "pg-2"},       {"6", "pg-3"},
        {"7", "pg-3"}, {"8", "pg-2"}, {"9", "pg-2"}, {"10", "pg-2"}, {"d:17:42", "pg-3"}, {"g:123", "pg-2"},
    };
    for (auto [key, owner] : on_small) EXPECT_EQ(small.name_of(key), owner) << key;

    const HashRing eight(names(8), 256);
    const std::pair<const char*, const char*> on_eight[] = {
        {"1", "pg-4"}, {"42", "pg-2"}, {"1000", "pg-7"}, {"d:17:42", "pg-6"}, {"g:123", "pg-6"}, {"d:1:2", "pg-7"},
    };
    for (auto [key, owner] : on_eight) EXPECT_EQ(eight.name_of(key), owner) << key;
}

// The lookup (a binary search) against the definition, walked point by point.
TEST(HashRing, LookupMatchesALinearScanOfThePoints) {
    const auto shards = names(5);
    const std::size_t vnodes = 16;
    std::vector<std::pair<std::uint64_t, std::string>> points;
    for (const auto& s : shards)
        for (std::size_t i = 0; i < vnodes; ++i) points.emplace_back(HashRing::hash(s + "#" + std::to_string(i)), s);
    std::sort(points.begin(), points.end());
    const HashRing ring(shards, vnodes);
    for (std::uint64_t id = 1; id <= 20000; ++id) {
        const std::string key = natter::ring_key_user(id);
        const std::uint64_t at = HashRing::hash(key);
        auto it = std::find_if(points.begin(), points.end(), [&](const auto& p) { return p.first >= at; });
        const std::string& expected = it == points.end() ? points.front().second : it->second;
        ASSERT_EQ(ring.name_of(key), expected) << key;
    }
}

// A key that hashes exactly onto a point ("pg-2#5" is point 5 of pg-2)
// belongs to that point's shard: "at or after", not "after".
TEST(HashRing, AKeyOnAPointBelongsToItsShard) {
    const HashRing ring(names(4), 32);
    for (const auto& shard : ring.shards())
        for (std::size_t i = 0; i < 32; ++i) ASSERT_EQ(ring.name_of(shard + "#" + std::to_string(i)), shard) << i;
}

TEST(HashRing, WrapsPastTheTopOfTheCircle) {
    const HashRing ring(names(4), 8);
    EXPECT_EQ(ring.shard_of_hash(std::numeric_limits<std::uint64_t>::max()), ring.shard_of_hash(0));
}

TEST(HashRing, SameKeySameShard) {
    const HashRing a(names(8), 256);
    const HashRing b(names(8), 256);
    for (std::uint64_t id = 1; id <= 10000; ++id) {
        const std::string key = natter::ring_key_user(id);
        const std::size_t s = a.shard_of(key);
        ASSERT_LT(s, 8u);
        ASSERT_EQ(a.shard_of(key), s);
        ASSERT_EQ(b.shard_of(key), s);
        ASSERT_EQ(a.shard_of_hash(HashRing::hash(key)), s);
        ASSERT_EQ(&a.name_of(key), &a.shards()[s]);
    }
}

TEST(HashRing, OrderOfNamesDoesNotChangeTheMappingByName) {
    const auto sorted = names(8);
    const HashRing reference(sorted, 64);
    std::mt19937 shuffle_rng(7);
    for (int round = 0; round < 5; ++round) {
        auto shuffled = sorted;
        std::shuffle(shuffled.begin(), shuffled.end(), shuffle_rng);
        const HashRing ring(shuffled, 64);
        for (std::uint64_t id = 1; id <= 10000; ++id) {
            const std::string key = natter::ring_key_user(id);
            ASSERT_EQ(ring.name_of(key), reference.name_of(key)) << key << " in round " << round;
            // shard_of indexes the names as this ring was given them.
            ASSERT_EQ(ring.shards()[ring.shard_of(key)], ring.name_of(key));
        }
    }
}

// Growing from n to n+1 shards moves keys only to the new shard, and about
// 1/(n+1) of them (with 256 vnodes a shard's share is within a few percent
// of its ideal; the bound of half to 1.5 times is many deviations wide).
// Shrinking is the same thing backwards: only the removed shard's keys move.
TEST(HashRing, AddingAShardOnlyMovesKeysToIt) {
    const auto positions = user_positions(100000);
    for (std::size_t n = 1; n < 12; ++n) {
        const HashRing before(names(n), 256);
        const HashRing after(names(n + 1), 256);
        std::size_t moved = 0;
        for (auto p : positions) {
            const std::size_t from = before.shard_of_hash(p), to = after.shard_of_hash(p);
            if (from == to) continue;
            ASSERT_EQ(to, n) << "a key moved from " << before.shards()[from] << " to " << after.shards()[to]
                             << " when " << after.shards()[n] << " was added";
            ++moved;
        }
        const double share = static_cast<double>(moved) / positions.size(), ideal = 1.0 / (n + 1);
        EXPECT_GT(share, 0.5 * ideal) << n << " -> " << n + 1;
        EXPECT_LT(share, 1.5 * ideal) << n << " -> " << n + 1;
    }
}

// The bounds come from the spread of max/mean over 10,000 other sets of 8
// shard names ("set<k>-shard-<i>", 256 vnodes, these 200k keys): median
// 1.087, p99 1.19, p99.9 1.23, highest 1.26; 1.15 alone would fail for 5%
// of name sets. So one ring is held to 1.30, which no name set reached, and
// the mean over 16 name sets (spread ~0.01 around 1.087) to 1.15. Without
// working vnodes (1 per shard) max/mean is ~2.7 on average; with 64, ~1.18.
TEST(HashRing, BalancedWith256VnodesOver8Shards) {
    const auto positions = user_positions(200000);
    EXPECT_LT(max_over_mean(loads(HashRing(names(8), 256), positions)), 1.30);

    double sum = 0;
    const int sets = 16;
    for (int set = 0; set < sets; ++set) {
        const HashRing ring(names(8, "set" + std::to_string(set) + "-"), 256);
        sum += max_over_mean(loads(ring, positions));
    }
    EXPECT_LT(sum / sets, 1.15);
}

// The arcs a ring reports are the loads that keys find on it, within
// sampling noise (5 binomial standard deviations).
TEST(HashRing, ArcSharesPredictTheLoad) {
    const auto positions = user_positions(200000);
    for (std::size_t vnodes : {1u, 16u, 256u}) {
        const HashRing ring(names(8), vnodes);
        const auto arcs = ring.arc_shares();
        const auto load = loads(ring, positions);
        double total = 0;
        for (std::size_t s = 0; s < arcs.size(); ++s) {
            total += arcs[s];
            const double n = static_cast<double>(positions.size());
            const double sigma = std::sqrt(arcs[s] * (1 - arcs[s]) / n);
            EXPECT_NEAR(static_cast<double>(load[s]) / n, arcs[s], 5 * sigma + 1e-9) << "vnodes " << vnodes << " shard " << s;
        }
        EXPECT_NEAR(total, 1.0, 1e-9);
    }
}

TEST(HashRing, OneShardTakesEverything) {
    const HashRing ring({"only"}, 1);
    EXPECT_EQ(ring.arc_shares(), std::vector<double>{1.0});
    for (std::uint64_t id = 1; id <= 1000; ++id) ASSERT_EQ(ring.name_of(natter::ring_key_user(id)), "only");
}

TEST(HashRing, RefusesBadConstruction) {
    EXPECT_THROW(HashRing({}, 16), std::invalid_argument);
    EXPECT_THROW(HashRing({"pg-1", ""}, 16), std::invalid_argument);
    EXPECT_THROW(HashRing({"pg-1", "pg-2", "pg-1"}, 16), std::invalid_argument);
    EXPECT_THROW(HashRing(names(2), 0), std::invalid_argument);
    EXPECT_THROW(HashRing(names(2), HashRing::kMaxVnodes + 1), std::invalid_argument);
    EXPECT_NO_THROW(HashRing(names(2), 1));
    EXPECT_NO_THROW(HashRing(names(2), HashRing::kMaxVnodes));
}

TEST(HashRingKeys, AreTheIdsAsText) {
    EXPECT_EQ(natter::ring_key_user(42), "42");
    EXPECT_EQ(natter::ring_key_user(7318624815372288001u), "7318624815372288001");
    EXPECT_EQ(natter::ring_key_conversation(natter::direct_conversation(42, 17).str()), "d:17:42");
    EXPECT_EQ(natter::ring_key_conversation(natter::group_conversation(123).str()), "g:123");
}

}  // namespace
