// Id parsing (as ids arrive in JSON strings and URLs) and the snowflake
// generator every user, device and message id comes from.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/ids.hpp"

namespace {

using natter::IdGenerator;
using natter::parse_id;

constexpr std::int64_t kNow = 1'750'000'000'000;  // June 2025, ms since the epoch

std::uint64_t node_of(std::uint64_t id) {
    return (id >> IdGenerator::kSeqBits) & IdGenerator::kMaxNode;
}

std::vector<std::uint64_t> ids_at(IdGenerator& gen, std::int64_t now_ms, int count) {
    std::vector<std::uint64_t> out;
    for (int i = 0; i < count; ++i) out.push_back(gen.next(now_ms));
    return out;
}

void expect_strictly_increasing(const std::vector<std::uint64_t>& ids) {
    for (std::size_t i = 1; i < ids.size(); ++i) ASSERT_LT(ids[i - 1], ids[i]) << "at index " << i;
}

TEST(ParseId, AcceptsPlainDecimal) {
    EXPECT_EQ(parse_id("1"), 1u);
    EXPECT_EQ(parse_id("42"), 42u);
    EXPECT_EQ(parse_id("7318624815372288001"), 7318624815372288001u);
}

TEST(ParseId, RejectsEmptyZeroAndLeadingZeros) {
    EXPECT_EQ(parse_id(""), std::nullopt);
    EXPECT_EQ(parse_id("0"), std::nullopt);
    EXPECT_EQ(parse_id("00"), std::nullopt);
    EXPECT_EQ(parse_id("012"), std::nullopt);
}

TEST(ParseId, RejectsSignsAndNonDigits) {
    EXPECT_EQ(parse_id("-1"), std::nullopt);
    EXPECT_EQ(parse_id("+1"), std::nullopt);
    EXPECT_EQ(parse_id(" 1"), std::nullopt);
    EXPECT_EQ(parse_id("1 "), std::nullopt);
    EXPECT_EQ(parse_id("12a"), std::nullopt);
    EXPECT_EQ(parse_id("0x10"), std::nullopt);
    EXPECT_EQ(parse_id("1e3"), std::nullopt);
    EXPECT_EQ(parse_id("1.0"), std::nullopt);
    EXPECT_EQ(parse_id(std::string_view("1\0", 2)), std::nullopt);
}

TEST(ParseId, AcceptsTheLargest64BitValueAndNothingPastIt) {
    EXPECT_EQ(parse_id("18446744073709551615"), UINT64_MAX);            // 2^64 - 1
    EXPECT_EQ(parse_id("18446744073709551616"), std::nullopt);          // 2^64
    EXPECT_EQ(parse_id("99999999999999999999"), std::nullopt);          // 20 digits, too big
    EXPECT_EQ(parse_id("100000000000000000000"), std::nullopt);         // 21 digits
}

TEST(ParseId, RoundTripsWithIdString) {
    for (std::uint64_t v : {1ull, 10ull, 4096ull, 7318624815372288001ull, 18446744073709551615ull})
        EXPECT_EQ(parse_id(natter::id_string(v)), v);
}

TEST(IdGenerator, IdsIncreaseStrictlyWithinOneMillisecond) {
    IdGenerator gen(1);
    auto ids = ids_at(gen, kNow, 1000);
    expect_strictly_increasing(ids);
}

TEST(IdGenerator, MoreThan4096IdsInOneMillisecondStayUniqueAndIncreasing) {
    IdGenerator gen(1);
    auto ids = ids_at(gen, kNow, 3 * 4096 + 17);
    expect_strictly_increasing(ids);
    // The wall clock catching up must not go back to ids already handed out.
    auto later = ids_at(gen, kNow + 1, 10);
    EXPECT_GT(later.front(), ids.back());
    expect_strictly_increasing(later);
}

TEST(IdGenerator, IdsKeepIncreasingWhenTheClockStepsBack) {
    IdGenerator gen(1);
    auto before = gen.next(kNow);
    auto after = gen.next(kNow - 5000);
    EXPECT_GT(after, before);
}

TEST(IdGenerator, IdsIncreaseAcrossMilliseconds) {
    IdGenerator gen(1);
    std::vector<std::uint64_t> ids;
    for (std::int64_t ms = 0; ms < 50; ++ms)
        for (int i = 0; i < 3; ++i) ids.push_back(gen.next(kNow + ms));
    expect_strictly_increasing(ids);
}

TEST(IdGenerator, EmbedsTheNodeIdInBits12To21) {
    for (std::uint32_t node : {0u, 1u, 2u, 513u, IdGenerator::kMaxNode}) {
        IdGenerator gen(node);
        EXPECT_EQ(gen.node_id(), node);
        for (auto id : ids_at(gen, kNow, 5000)) ASSERT_EQ(node_of(id), node) << "node " << node;
    }
}

TEST(IdGenerator, TwoNodesNeverCollideInTheSameMillisecond) {
    IdGenerator a(1), b(2);
    std::set<std::uint64_t> seen;
    for (auto id : ids_at(a, kNow, 5000)) seen.insert(id);
    for (auto id : ids_at(b, kNow, 5000)) EXPECT_TRUE(seen.insert(id).second);
}

TEST(IdGenerator, TimeOfRecoversTheMillisecond) {
    IdGenerator gen(7);
    for (std::int64_t t : {IdGenerator::kEpochMs + 1, kNow, kNow + 1, kNow + 86'400'000}) {
        EXPECT_EQ(IdGenerator::time_of(gen.next(t)), t);
    }
}

TEST(IdGenerator, IdsFitIn63Bits) {
    // So they stay positive in a signed 64-bit column (SQLite, PostgreSQL bigint).
    constexpr std::int64_t kYear2090 = 3'786'912'000'000;
    for (std::int64_t t : {kNow, kYear2090}) {
        IdGenerator gen(IdGenerator::kMaxNode);
        for (auto id : ids_at(gen, t, 5000)) ASSERT_EQ(id >> 63, 0u);
    }
}

TEST(IdGenerator, RejectsANodeIdPastTenBits) {
    EXPECT_THROW(IdGenerator(IdGenerator::kMaxNode + 1), std::invalid_argument);
    EXPECT_THROW(IdGenerator(UINT32_MAX), std::invalid_argument);
    EXPECT_NO_THROW(IdGenerator{IdGenerator::kMaxNode});  // braces: with parentheses clang reads a declaration
}

TEST(IdGenerator, ThreadsSharingOneGeneratorGetUniqueIds) {
    IdGenerator gen(3);
    constexpr int kThreads = 4, kEach = 5000;
    std::vector<std::vector<std::uint64_t>> got(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] { got[t] = ids_at(gen, kNow, kEach); });
    for (auto& th : threads) th.join();
    std::set<std::uint64_t> all;
    for (const auto& ids : got) {
        expect_strictly_increasing(ids);
        all.insert(ids.begin(), ids.end());
    }
    EXPECT_EQ(all.size(), std::size_t(kThreads * kEach));
}

}  // namespace
