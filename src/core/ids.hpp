#pragma once
// Ids: every user, device and message id is a 64-bit, time-ordered number
// that carries the node that made it, so ids stay unique across nodes.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace natter {

using UserId = std::uint64_t;
using DeviceId = std::uint64_t;
using MessageId = std::uint64_t;
using InboxId = std::int64_t;

// Parses a decimal id as it appears in JSON strings and URLs: digits only,
// no sign, no leading zero, non-zero, fits in 64 bits.
std::optional<std::uint64_t> parse_id(std::string_view text);
std::string id_string(std::uint64_t id);

// Snowflake layout: 41 bits of milliseconds since 2024-01-01, 10 bits of node
// id, 12 bits of sequence. When a millisecond's 4096 ids run out the
// generator borrows the next millisecond instead of waiting, so ids stay
// unique and increasing; the wall clock catches up under normal load.
class IdGenerator {
public:
    static constexpr std::int64_t kEpochMs = 1704067200000;  // 2024-01-01T00:00:00Z
    static constexpr unsigned kNodeBits = 10;
    static constexpr unsigned kSeqBits = 12;
    static constexpr std::uint32_t kMaxNode = (1u << kNodeBits) - 1;

    explicit IdGenerator(std::uint32_t node_id);
    std::uint64_t next(std::int64_t now_ms);
    std::uint32_t node_id() const { return node_; }
    static std::int64_t time_of(std::uint64_t id) { return std::int64_t(id >> (kNodeBits + kSeqBits)) + kEpochMs; }

private:
    std::uint32_t node_;
    std::mutex mu_;
    std::int64_t last_ms_ = 0;
    std::uint32_t seq_ = 0;
};

}  // namespace natter
