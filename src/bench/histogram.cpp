#include "bench/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace natter::bench {

// Values below 128 have a bucket each; above, value >> e keeps the top 7 bits (64..127).
std::size_t Histogram::index_of(std::uint64_t v) {
    if (v < 128) return static_cast<std::size_t>(v);
    auto e = static_cast<std::size_t>(std::bit_width(v)) - 7;
    return e * 64 + static_cast<std::size_t>(v >> e);
}

std::uint64_t Histogram::lowest_in(std::size_t i) {
    if (i < 128) return i;
    std::size_t e = i / 64 - 1;
    return static_cast<std::uint64_t>(i - e * 64) << e;
}

std::uint64_t Histogram::highest_in(std::size_t i) {
    if (i < 128) return i;
    std::size_t e = i / 64 - 1;
    return lowest_in(i) + ((std::uint64_t{1} << e) - 1);
}

void Histogram::record(std::uint64_t v) {
    ++counts_[std::min(index_of(v), kBuckets - 1)];
    ++count_;
    sum_ += v;
    max_ = std::max(max_, v);
    min_ = std::min(min_, v);
}

void Histogram::merge(const Histogram& o) {
    for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    count_ += o.count_;
    sum_ += o.sum_;
    max_ = std::max(max_, o.max_);
    min_ = std::min(min_, o.min_);
}

std::uint64_t Histogram::percentile(double p) const {
    if (count_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
        seen += counts_[i];
        if (seen >= rank) return std::min(highest_in(i), max_);
    }
    return max_;
}

}  // namespace natter::bench
