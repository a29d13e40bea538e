#include "core/hash_ring.hpp"

#include <algorithm>
#include <stdexcept>
#include <unordered_set>

#include <xxhash.h>

namespace natter {

namespace {

void check(const std::vector<std::string>& shards, std::size_t vnodes) {
    if (shards.empty()) throw std::invalid_argument("hash ring: no shards");
    if (vnodes < 1 || vnodes > HashRing::kMaxVnodes)
        throw std::invalid_argument("hash ring: vnodes must be 1.." + std::to_string(HashRing::kMaxVnodes) + ", got " +
                                    std::to_string(vnodes));
    std::unordered_set<std::string_view> seen;
    for (const auto& s : shards) {
        if (s.empty()) throw std::invalid_argument("hash ring: empty shard name");
        if (!seen.insert(s).second) throw std::invalid_argument("hash ring: shard \"" + s + "\" given twice");
    }
}

}  // namespace

std::uint64_t HashRing::hash(std::string_view bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

HashRing::HashRing(std::vector<std::string> shards, std::size_t vnodes) : names_(std::move(shards)), vnodes_(vnodes) {
    check(names_, vnodes_);
    struct Point {
        std::uint64_t at;
        std::uint32_t shard;
    };
    std::vector<Point> points;
    points.reserve(names_.size() * vnodes_);
    for (std::uint32_t s = 0; s < names_.size(); ++s) {
        std::string label = names_[s] + "#";
        const std::size_t stem = label.size();
        for (std::size_t i = 0; i < vnodes_; ++i) {
            label.resize(stem);
            label += std::to_string(i);
            points.push_back({hash(label), s});
        }
    }
    // By name on a tie, so that the order the names came in cannot matter.
    std::sort(points.begin(), points.end(), [&](const Point& a, const Point& b) {
        return a.at != b.at ? a.at < b.at : names_[a.shard] < names_[b.shard];
    });
    points_.reserve(points.size());
    owner_.reserve(points.size());
    for (const auto& p : points) {
        points_.push_back(p.at);
        owner_.push_back(p.shard);
    }
}

std::size_t HashRing::shard_of_hash(std::uint64_t position) const {
    // The first point at or after the position; past the last, the first.
    auto it = std::lower_bound(points_.begin(), points_.end(), position);
    if (it == points_.end()) it = points_.begin();
    return owner_[static_cast<std::size_t>(it - points_.begin())];
}

std::vector<double> HashRing::arc_shares() const {
    std::vector<double> share(names_.size(), 0.0);
    if (points_.size() == 1) {
        share[owner_[0]] = 1.0;
        return share;
    }
    constexpr double kCircle = 18446744073709551616.0;  // 2^64
    // A point owns the arc from the point before it (exclusive) up to itself;
    // the first point's arc wraps around zero, which unsigned subtraction does.
    for (std::size_t i = 0; i < points_.size(); ++i) {
        std::uint64_t before = i == 0 ? points_.back() : points_[i - 1];
        share[owner_[i]] += static_cast<double>(points_[i] - before) / kCircle;
    }
    return share;
}

std::string ring_key_user(UserId id) { return id_string(id); }

std::string ring_key_conversation(const std::string& conversation_id) { return conversation_id; }

}  // namespace natter
