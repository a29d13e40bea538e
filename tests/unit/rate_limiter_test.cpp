// Token buckets, driven by explicit timestamps: no sleeping.
#include <gtest/gtest.h>

#include "chat/rate_limiter.hpp"

namespace {

using natter::KeyedRateLimiter;
using natter::TokenBucket;

constexpr std::int64_t kT0 = 1'750'000'000'000;

// Takes `n` tokens at `now`, expecting every one granted.
template <class Take>
void drain(Take&& take, int n) {
    for (int i = 0; i < n; ++i) ASSERT_EQ(take(), 0) << "take " << i << " of a burst of " << n;
}

TEST(TokenBucket, GrantsTheBurstThenReportsWhenTheNextTokenComes) {
    TokenBucket bucket(10, 5);  // 10/s: one token per 100 ms
    drain([&] { return bucket.take(kT0); }, 5);
    EXPECT_EQ(bucket.take(kT0), 100);
    EXPECT_EQ(bucket.take(kT0 + 50), 50);  // half a token refilled: half the wait left
    EXPECT_EQ(bucket.take(kT0 + 100), 0);
    EXPECT_EQ(bucket.take(kT0 + 100), 100);
}

TEST(TokenBucket, RetryAfterIsEnough) {
    TokenBucket bucket(3, 1);  // one token per 333.3 ms
    ASSERT_EQ(bucket.take(kT0), 0);
    auto wait = bucket.take(kT0);
    EXPECT_EQ(wait, 334);  // rounded up, never down
    EXPECT_GT(bucket.take(kT0 + wait - 1), 0);
    EXPECT_EQ(bucket.take(kT0 + wait), 0);
}

TEST(TokenBucket, RefillsAtTheRateUpToTheBurst) {
    TokenBucket bucket(10, 5);
    drain([&] { return bucket.take(kT0); }, 5);
    // 250 ms later: two whole tokens.
    EXPECT_EQ(bucket.take(kT0 + 250), 0);
    EXPECT_EQ(bucket.take(kT0 + 250), 0);
    EXPECT_EQ(bucket.take(kT0 + 250), 50);
    // A long idle period refills to the burst and no further.
    const auto later = kT0 + 60'000;
    EXPECT_TRUE(bucket.full(later));
    drain([&] { return bucket.take(later); }, 5);
    EXPECT_GT(bucket.take(later), 0);
}

TEST(TokenBucket, AClockGoingBackwardsGrantsNothingExtra) {
    TokenBucket bucket(10, 2);
    drain([&] { return bucket.take(kT0); }, 2);
    EXPECT_GT(bucket.take(kT0 - 10'000), 0);
    EXPECT_GT(bucket.take(kT0), 0);
}

TEST(TokenBucket, ZeroRateNeverRefills) {
    TokenBucket bucket(0, 1);
    EXPECT_EQ(bucket.take(kT0), 0);
    EXPECT_GT(bucket.take(kT0 + 3'600'000), 0);
}

TEST(KeyedRateLimiter, KeepsOneBucketPerKey) {
    KeyedRateLimiter limiter(1, 3);
    drain([&] { return limiter.take(1, kT0); }, 3);
    EXPECT_EQ(limiter.take(1, kT0), 1000);
    // Key 2 is untouched by key 1 running dry.
    drain([&] { return limiter.take(2, kT0); }, 3);
    EXPECT_EQ(limiter.take(2, kT0), 1000);
    // And both refill on their own.
    EXPECT_EQ(limiter.take(1, kT0 + 1000), 0);
    EXPECT_EQ(limiter.take(1, kT0 + 1000), 1000);
    EXPECT_EQ(limiter.take(2, kT0 + 1000), 0);
}

TEST(KeyedRateLimiter, PruningNeverForgetsALimitedKey) {
    KeyedRateLimiter limiter(1, 2, /*prune_above=*/1);
    drain([&] { return limiter.take(1, kT0); }, 2);
    // Many other keys push the map past the prune threshold.
    for (std::uint64_t key = 2; key < 50; ++key) ASSERT_EQ(limiter.take(key, kT0), 0);
    EXPECT_GT(limiter.take(1, kT0), 0);
}

TEST(KeyedRateLimiter, AForgottenFullBucketStartsFull) {
    KeyedRateLimiter limiter(1, 2, /*prune_above=*/1);
    ASSERT_EQ(limiter.take(1, kT0), 0);
    // Long after, key 1's bucket is full again and may be pruned; that must
    // not change what key 1 is granted.
    const auto later = kT0 + 10'000;
    for (std::uint64_t key = 2; key < 10; ++key) ASSERT_EQ(limiter.take(key, later), 0);
    drain([&] { return limiter.take(1, later); }, 2);
    EXPECT_EQ(limiter.take(1, later), 1000);
}

}  // namespace
