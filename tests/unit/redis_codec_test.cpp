// The Redis bus's wire format (adapters/redis/bus_codec): every kind of event
// survives the trip, and bytes that are not an event are refused, whole,
// without reading past the end.
#include <gtest/gtest.h>

#include <limits>
#include <random>

#include "adapters/redis/bus_codec.hpp"

namespace {

using namespace natter;
using redis::decode_bus_event;
using redis::encode_bus_event;

BusEvent full_event(BusEvent::Kind kind) {
    BusEvent e;
    e.kind = kind;
    e.message_id = std::numeric_limits<MessageId>::max();
    e.device = 0x1234567890abcdefull;
    e.changed_at = -5;  // signed fields keep their sign
    e.inbox = {InboxRow{1, 2, 0}, InboxRow{std::numeric_limits<DeviceId>::max(), std::numeric_limits<InboxId>::max(),
                                           std::numeric_limits<InboxId>::min()}};
    e.frame = std::make_shared<const std::string>(std::string("{\"type\":\"x\"}\0\xff", 15));
    return e;
}

void expect_same(const BusEvent& a, const BusEvent& b) {
    EXPECT_EQ(a.kind, b.kind);
    EXPECT_EQ(a.message_id, b.message_id);
    EXPECT_EQ(a.device, b.device);
    EXPECT_EQ(a.changed_at, b.changed_at);
    ASSERT_EQ(a.inbox.size(), b.inbox.size());
    for (std::size_t i = 0; i < a.inbox.size(); ++i) {
        EXPECT_EQ(a.inbox[i].device, b.inbox[i].device);
        EXPECT_EQ(a.inbox[i].id, b.inbox[i].id);
        EXPECT_EQ(a.inbox[i].prev, b.inbox[i].prev);
    }
    ASSERT_EQ(bool(a.frame), bool(b.frame));
    if (a.frame) {
        EXPECT_EQ(*a.frame, *b.frame);
    }
}

std::shared_ptr<BusEvent> decode(std::string_view bytes) {
    std::string error;
    auto e = decode_bus_event(bytes, error);
    EXPECT_EQ(e == nullptr, !error.empty()) << error;
    return e;
}

TEST(RedisBusCodec, EveryKindRoundTrips) {
    for (auto kind : {BusEvent::Kind::message, BusEvent::Kind::revoke, BusEvent::Kind::notice, BusEvent::Kind::presence,
                      BusEvent::Kind::resync}) {
        SCOPED_TRACE(int(kind));
        auto full = full_event(kind);
        auto back = decode(encode_bus_event(full));
        ASSERT_TRUE(back);
        expect_same(full, *back);
        BusEvent empty;
        empty.kind = kind;
        back = decode(encode_bus_event(empty));
        ASSERT_TRUE(back);
        expect_same(empty, *back);
    }
}

TEST(RedisBusCodec, AnEmptyFrameIsNotAMissingOne) {
    BusEvent e;
    e.frame = std::make_shared<const std::string>();
    auto back = decode(encode_bus_event(e));
    ASSERT_TRUE(back && back->frame);
    EXPECT_TRUE(back->frame->empty());
}

TEST(RedisBusCodec, EveryTruncationIsRefused) {
    const auto bytes = encode_bus_event(full_event(BusEvent::Kind::message));
    for (std::size_t n = 0; n < bytes.size(); ++n) EXPECT_FALSE(decode(std::string_view(bytes).substr(0, n))) << n;
}

TEST(RedisBusCodec, TrailingBytesUnknownVersionsAndKindsAreRefused) {
    const auto bytes = encode_bus_event(full_event(BusEvent::Kind::notice));
    EXPECT_FALSE(decode(bytes + "x"));
    auto other_version = bytes;
    other_version[0] = 2;
    EXPECT_FALSE(decode(other_version));
    auto other_kind = bytes;
    other_kind[1] = 5;
    EXPECT_FALSE(decode(other_kind));
    auto bad_flag = encode_bus_event(BusEvent{});
    bad_flag.back() = 2;  // has_frame
    EXPECT_FALSE(decode(bad_flag));
}

TEST(RedisBusCodec, LyingLengthsAndBadVarintsAreRefused) {
    // version, kind, message_id 0, device 0, changed_at 0, then a huge row count.
    EXPECT_FALSE(decode(std::string("\x01\x00\x00\x00\x00\xff\xff\xff\xff\x0f", 10)));
    // A frame length past the end.
    EXPECT_FALSE(decode(std::string("\x01\x02\x00\x00\x00\x00\x01\x7f" "abc", 11)));
    // An 11-byte varint; a 10th byte beyond bit 63; an overlong zero.
    EXPECT_FALSE(decode(std::string("\x01\x00") + std::string(10, '\xff') + std::string("\x01", 1)));
    EXPECT_FALSE(decode(std::string("\x01\x00") + std::string(9, '\xff') + std::string("\x02", 1)));
    EXPECT_FALSE(decode(std::string("\x01\x00\x80\x00\x00\x00\x00\x00", 8)));
}

TEST(RedisBusCodec, RandomBytesNeverCrash) {
    std::mt19937 rng(42);
    const auto good = encode_bus_event(full_event(BusEvent::Kind::message));
    for (int i = 0; i < 20000; ++i) {
        std::string bytes = good;
        // Flip a few bytes of a real event, or make all of them up.
        if (i % 2) {
            for (int k = 0; k < 3; ++k) bytes[rng() % bytes.size()] = char(rng());
        } else {
            bytes.resize(rng() % 64);
            for (auto& c : bytes) c = char(rng());
        }
        std::string error;
        auto e = decode_bus_event(bytes, error);
        // One encoding per event: what decodes re-encodes the same.
        if (e) {
            EXPECT_EQ(encode_bus_event(*e), bytes);
        }
    }
}

}  // namespace
