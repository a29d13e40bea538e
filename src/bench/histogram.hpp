#pragma once
// An HDR-style latency histogram: buckets spaced logarithmically with 64
// linear sub-buckets per power of two, so any recorded value is reported
// within 1/64 (~1.6%) of itself, in constant memory, with O(1) record.

#include <array>
#include <cstdint>

namespace natter::bench {

class Histogram {
public:
    void record(std::uint64_t value);
    void merge(const Histogram& other);

    std::uint64_t count() const { return count_; }
    std::uint64_t max() const { return max_; }
    std::uint64_t min() const { return count_ ? min_ : 0; }
    double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }
    // The value at percentile p (0 < p <= 100): no more than p% of the values are above it
    // (to the bucket's precision; the maximum is exact).
    std::uint64_t percentile(double p) const;

    static std::size_t index_of(std::uint64_t value);
    static std::uint64_t lowest_in(std::size_t index);
    static std::uint64_t highest_in(std::size_t index);

private:
    static constexpr std::size_t kBuckets = 128 + 58 * 64;
    std::array<std::uint64_t, kBuckets> counts_{};
    std::uint64_t count_ = 0, sum_ = 0, max_ = 0, min_ = UINT64_MAX;
};

}  // namespace natter::bench
