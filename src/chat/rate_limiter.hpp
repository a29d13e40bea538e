#pragma once
// Token buckets: `rate` tokens a second up to `burst`. KeyedRateLimiter keeps
// one bucket per key (a user), forgetting idle full buckets so memory stays
// bounded.
#include <cstdint>
#include <mutex>
#include <unordered_map>

namespace natter {

class TokenBucket {
public:
    TokenBucket(double rate, double burst) : rate_(rate), burst_(burst), tokens_(burst) {}
    // Takes one token; 0 when granted, otherwise ms until one is available.
    std::int64_t take(std::int64_t now_ms);
    bool full(std::int64_t now_ms);

private:
    void refill(std::int64_t now_ms);
    double rate_, burst_, tokens_;
    std::int64_t last_ms_ = -1;
};

class KeyedRateLimiter {
public:
    KeyedRateLimiter(double rate, double burst, std::size_t prune_above = 100000)
        : rate_(rate), burst_(burst), prune_above_(prune_above) {}
    std::int64_t take(std::uint64_t key, std::int64_t now_ms);

private:
    double rate_, burst_;
    std::size_t prune_above_;
    std::mutex mu_;
    std::unordered_map<std::uint64_t, TokenBucket> buckets_;
};

}  // namespace natter
