#include "chat/rate_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace natter {

void TokenBucket::refill(std::int64_t now_ms) {
    if (last_ms_ >= 0 && now_ms > last_ms_) tokens_ = std::min(burst_, tokens_ + double(now_ms - last_ms_) * rate_ / 1000.0);
    if (now_ms > last_ms_) last_ms_ = now_ms;
}

std::int64_t TokenBucket::take(std::int64_t now_ms) {
    refill(now_ms);
    if (tokens_ >= 1.0) {
        tokens_ -= 1.0;
        return 0;
    }
    if (rate_ <= 0) return 60000;
    return std::max<std::int64_t>(1, std::int64_t(std::ceil((1.0 - tokens_) * 1000.0 / rate_)));
}

bool TokenBucket::full(std::int64_t now_ms) {
    refill(now_ms);
    return tokens_ >= burst_;
}

std::int64_t KeyedRateLimiter::take(std::uint64_t key, std::int64_t now_ms) {
    std::lock_guard lock(mu_);
    if (buckets_.size() > prune_above_) {
        // A full bucket holds no state worth keeping.
        for (auto it = buckets_.begin(); it != buckets_.end();)
            it = it->second.full(now_ms) ? buckets_.erase(it) : std::next(it);
    }
    auto it = buckets_.try_emplace(key, rate_, burst_).first;
    return it->second.take(now_ms);
}

}  // namespace natter
