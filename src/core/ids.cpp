#include "core/ids.hpp"

#include <charconv>
#include <stdexcept>

namespace natter {

std::optional<std::uint64_t> parse_id(std::string_view text) {
    if (text.empty() || text.size() > 20 || text[0] == '0') return std::nullopt;
    for (char c : text)
        if (c < '0' || c > '9') return std::nullopt;
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return v;
}

std::string id_string(std::uint64_t id) { return std::to_string(id); }

IdGenerator::IdGenerator(std::uint32_t node_id) : node_(node_id) {
    if (node_id > kMaxNode) throw std::invalid_argument("node id must be 0..1023");
}

std::uint64_t IdGenerator::next(std::int64_t now_ms) {
    std::lock_guard lock(mu_);
    std::int64_t ms = now_ms - kEpochMs;
    if (ms < 0) ms = 0;
    if (ms > last_ms_) {
        last_ms_ = ms;
        seq_ = 0;
    } else if (++seq_ >= (1u << kSeqBits)) {
        // A clock that stepped back, or more than 4096 ids in one ms: run ahead.
        ++last_ms_;
        seq_ = 0;
    }
    return (std::uint64_t(last_ms_) << (kNodeBits + kSeqBits)) | (std::uint64_t(node_) << kSeqBits) | seq_;
}

}  // namespace natter
