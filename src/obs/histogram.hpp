#pragma once
// A fixed-bucket histogram that many threads record into without locks.
#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

namespace natter {

class LatencyHistogram {
public:
    // Upper bounds in seconds, Prometheus-style: 0.5 ms .. 2.5 s.
    static constexpr std::array<double, 12> kBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                       0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
    void observe(double seconds) {
        std::size_t i = 0;
        while (i < kBounds.size() && seconds > kBounds[i]) ++i;
        counts_[i].fetch_add(1, std::memory_order_relaxed);
        sum_us_.fetch_add(std::uint64_t(seconds * 1e6), std::memory_order_relaxed);
    }
    struct Snapshot {
        std::vector<std::uint64_t> cumulative;  // per bound, then +Inf
        std::uint64_t count = 0;
        double sum = 0;
    };
    Snapshot snapshot() const {
        Snapshot s;
        std::uint64_t running = 0;
        for (const auto& c : counts_) {
            running += c.load(std::memory_order_relaxed);
            s.cumulative.push_back(running);
        }
        s.count = running;
        s.sum = double(sum_us_.load(std::memory_order_relaxed)) / 1e6;
        return s;
    }

private:
    std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> counts_{};
    std::atomic<std::uint64_t> sum_us_{0};
};

}  // namespace natter
