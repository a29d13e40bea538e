// The delivery checker must catch each violation it exists for (loss,
// duplicate, reorder, broken prev link, and for a group's fan-out a member
// missing a message or seeing another order) and pass a clean run; the
// histogram and the frame scanners it relies on are checked alongside.

#include "bench/checker.hpp"
#include "bench/frame_scan.hpp"
#include "bench/histogram.hpp"
#include "bench/reconnect_policy.hpp"
#include "bench/users.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <sstream>

namespace natter::bench {
namespace {

const std::string kConv = "d:1:2";
const std::string kDevice = "20";

std::string mid(int seq) { return std::to_string(1000 + seq); }

std::shared_ptr<const std::vector<std::string>> devices_of(std::initializer_list<std::string> d) {
    return std::make_shared<const std::vector<std::string>>(d);
}

// Messages seq from..to of one conversation, sent and delivered in order.
void sent_range(Checker& c, int from, int to) {
    for (int s = from; s <= to; ++s) c.on_sent(kDevice, mid(s), kConv, static_cast<std::uint64_t>(s));
}
void deliver(Checker& c, int seq, const std::string& device = kDevice) {
    c.on_message(device, mid(seq), kConv, static_cast<std::uint64_t>(seq), seq == 1 ? "0" : mid(seq - 1));
}

TEST(Checker, CleanRunPasses) {
    Checker c;
    sent_range(c, 1, 5);
    for (int s = 1; s <= 5; ++s) deliver(c, s);
    auto r = c.check();
    EXPECT_TRUE(r.ok()) << (r.examples.empty() ? "" : r.examples.front());
    EXPECT_EQ(r.sent, 5u);
    EXPECT_EQ(r.received, 5u);
    EXPECT_EQ(r.devices, 1u);
    EXPECT_EQ(r.runs, 1u);
}

TEST(Checker, CatchesLoss) {
    Checker c;
    sent_range(c, 1, 5);
    for (int s = 1; s <= 4; ++s) deliver(c, s);  // seq 5 never arrives
    auto r = c.check();
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.lost, 1u);
    EXPECT_EQ(r.order, 0u);
    ASSERT_FALSE(r.examples.empty());
    EXPECT_NE(r.examples.front().find(mid(5)), std::string::npos);
}

TEST(Checker, CatchesLossInTheMiddleAsLossAndGap) {
    Checker c;
    sent_range(c, 1, 3);
    deliver(c, 1);
    deliver(c, 3);
    auto r = c.check();
    EXPECT_EQ(r.lost, 1u);
    EXPECT_EQ(r.order, 1u);
}

TEST(Checker, CatchesLossToTheWrongDevice) {
    Checker c;
    sent_range(c, 1, 1);
    deliver(c, 1, "21");  // another device got it, not the recipient
    EXPECT_EQ(c.check().lost, 1u);
}

TEST(Checker, CatchesDuplicateOnOneConnection) {
    Checker c;
    sent_range(c, 1, 3);
    deliver(c, 1);
    deliver(c, 2);
    deliver(c, 2);
    deliver(c, 3);
    auto r = c.check();
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.duplicates, 1u);
    EXPECT_EQ(r.lost, 0u);
    EXPECT_EQ(r.order, 0u);
}

TEST(Checker, AllowsRepushAfterReconnect) {
    Checker c;
    sent_range(c, 1, 3);
    deliver(c, 1);
    deliver(c, 2);
    c.on_reconnect(kDevice);
    deliver(c, 2);  // unacked, pushed again on the new connection
    deliver(c, 3);
    auto r = c.check();
    EXPECT_TRUE(r.ok()) << (r.examples.empty() ? "" : r.examples.front());
    EXPECT_EQ(r.received, 4u);
}

// natter-bench --reconnect: after a device's socket drops, natterd pushes
// every unacked inbox row again on its next connection (PROTOCOL.md §6).

TEST(Checker, ReconnectRedeliveriesAreNotDuplicates) {
    // 1..4 arrived, 1 and 2 acked, then the socket dropped: 3 and 4 come again, then 5 and 6.
    Checker c;
    sent_range(c, 1, 6);
    for (int s = 1; s <= 4; ++s) deliver(c, s);
    c.on_reconnect(kDevice);
    for (int s = 3; s <= 6; ++s) deliver(c, s);
    auto r = c.check();
    EXPECT_TRUE(r.ok()) << (r.examples.empty() ? "" : r.examples.front());
    EXPECT_EQ(r.duplicates, 0u);
    EXPECT_EQ(r.redelivered, 2u);
    EXPECT_EQ(r.received, 8u);
    EXPECT_EQ(r.runs, 1u);
}

TEST(Checker, ReconnectStillCatchesADuplicateOnTheNewConnection) {
    Checker c;
    sent_range(c, 1, 3);
    deliver(c, 1);
    deliver(c, 2);
    c.on_reconnect(kDevice);
    deliver(c, 2);  // a redelivery: allowed
    deliver(c, 2);  // twice on the new connection: not
    deliver(c, 3);
    auto r = c.check();
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.duplicates, 1u);
    EXPECT_EQ(r.redelivered, 1u);
}

TEST(Checker, ReconnectAcrossSeveralConnections) {
    // A message never acked comes on every connection; failed attempts (extra on_reconnect) change nothing.
    Checker c;
    sent_range(c, 1, 2);
    deliver(c, 1);
    c.on_reconnect(kDevice);
    c.on_reconnect(kDevice);
    deliver(c, 1);
    c.on_reconnect(kDevice);
    deliver(c, 1);
    deliver(c, 2);
    auto r = c.check();
    EXPECT_TRUE(r.ok()) << (r.examples.empty() ? "" : r.examples.front());
    EXPECT_EQ(r.redelivered, 2u);
}

TEST(Checker, ReconnectDoesNotHideLossOrAGap) {
    // 3 got `sent` but the new connection goes from 2 (redelivered) to 4.
    Checker c;
    sent_range(c, 1, 4);
    deliver(c, 1);
    deliver(c, 2);
    c.on_reconnect(kDevice);
    deliver(c, 2);
    deliver(c, 4);
    auto r = c.check();
    EXPECT_EQ(r.lost, 1u);
    EXPECT_EQ(r.order, 1u);
    EXPECT_EQ(r.duplicates, 0u);
}

TEST(Checker, ReconnectDoesNotHideAReorder) {
    Checker c;
    sent_range(c, 1, 4);
    deliver(c, 1);
    deliver(c, 2);
    c.on_reconnect(kDevice);
    deliver(c, 4);
    deliver(c, 3);
    auto r = c.check();
    EXPECT_FALSE(r.ok());
    EXPECT_GE(r.order, 1u);
}

TEST(Checker, ReconnectOfOneDeviceGivesNoAllowanceToAnother) {
    Checker c;
    c.on_sent(devices_of({"20", "21"}), mid(1), kConv, 1);
    deliver(c, 1, "20");
    deliver(c, 1, "21");
    c.on_reconnect("20");
    deliver(c, 1, "20");  // allowed
    deliver(c, 1, "21");  // 21 did not reconnect
    auto r = c.check();
    EXPECT_EQ(r.duplicates, 1u);
    EXPECT_EQ(r.redelivered, 1u);
}

TEST(Checker, RetriedSendAnsweredLateOrTwice) {
    // The sender's socket dropped before `sent`: the message was delivered
    // first, then the retry (same client_msg_id) got natterd's first `sent`
    // again; a `sent` recorded twice for one message is one message.
    Checker c;
    c.on_sent(kDevice, mid(1), kConv, 1);
    deliver(c, 1);
    deliver(c, 2);
    c.on_sent(kDevice, mid(2), kConv, 2);
    c.on_sent(kDevice, mid(2), kConv, 2);
    auto r = c.check();
    EXPECT_TRUE(r.ok()) << (r.examples.empty() ? "" : r.examples.front());
    EXPECT_EQ(r.sent, 2u);
    EXPECT_EQ(r.expected, 2u);
}

TEST(Checker, RedeliveryOfAnEarlierRunsMessageIsNotOwed) {
    // Leftovers from before the run (no `sent` recorded) come again after a reconnect: no loss, no duplicate.
    Checker c;
    c.on_message(kDevice, "old", kConv, 4, "older");
    c.on_reconnect(kDevice);
    c.on_message(kDevice, "old", kConv, 4, "older");
    c.on_sent(kDevice, "new", kConv, 5);
    c.on_message(kDevice, "new", kConv, 5, "old");
    auto r = c.check();
    EXPECT_TRUE(r.ok()) << (r.examples.empty() ? "" : r.examples.front());
}

TEST(Checker, AnEarlierRunsLeftoverBeforeAGapIsNoOrderViolation) {
    // seq 31 stayed unacked in an earlier run (32..200 were acked); this
    // run's first message is 201: the device gets 31 first, then 201.
    Checker c;
    c.on_message(kDevice, "left-over", kConv, 31, "m30");
    c.on_sent(kDevice, "m201", kConv, 201);
    c.on_sent(kDevice, "m202", kConv, 202);
    c.on_message(kDevice, "m201", kConv, 201, "m200");
    c.on_message(kDevice, "m202", kConv, 202, "m201");
    auto r = c.check();
    EXPECT_TRUE(r.ok()) << (r.examples.empty() ? "" : r.examples.front());
    // But a gap among this run's own messages still counts.
    Checker gap;
    gap.on_sent(kDevice, "m201", kConv, 201);
    gap.on_sent(kDevice, "m203", kConv, 203);
    gap.on_message(kDevice, "m201", kConv, 201, "m200");
    gap.on_message(kDevice, "m203", kConv, 203, "m202");
    EXPECT_EQ(gap.check().order, 1u);
}

TEST(ReconnectPolicy, CloseCodes) {
    for (std::uint16_t code : {0, 1000, 1001, 1006, 1008, 1011, 1012, 1013, 4008})
        EXPECT_TRUE(reconnect_after_close(code)) << code;
    for (std::uint16_t code : {1002, 1003, 1007, 1009, 1010, 4000, 4001, 4002, 4003, 4999})
        EXPECT_FALSE(reconnect_after_close(code)) << code;
}

TEST(ReconnectPolicy, HandshakeStatuses) {
    for (int status : {0, 429, 500, 502, 503, 504}) EXPECT_TRUE(reconnect_after_handshake(status)) << status;
    for (int status : {400, 401, 403, 404}) EXPECT_FALSE(reconnect_after_handshake(status)) << status;
}

TEST(ReconnectPolicy, BackoffDoublesToTheCapWithJitter) {
    using std::chrono::milliseconds;
    Backoff b(milliseconds(50), milliseconds(2000));
    const long long want[] = {50, 100, 200, 400, 800, 1600, 2000, 2000};
    for (long long d : want) {
        auto lo = b;  // the same step drawn with the smallest and the largest random number
        auto hi = b;
        EXPECT_EQ(lo.next(0).count(), d / 2) << d;
        EXPECT_EQ(hi.next(static_cast<std::uint64_t>(d - d / 2)).count(), d) << d;  // random % span = span - 1
        auto got = b.next(12345).count();
        EXPECT_GE(got, d / 2);
        EXPECT_LE(got, d);
    }
    b.reset();
    EXPECT_LE(b.next(~0ULL).count(), 50);
}

TEST(Checker, CatchesReorder) {
    Checker c;
    sent_range(c, 1, 3);
    deliver(c, 1);
    deliver(c, 3);
    deliver(c, 2);
    auto r = c.check();
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.lost, 0u);
    EXPECT_EQ(r.duplicates, 0u);
    EXPECT_GE(r.order, 1u);
}

TEST(Checker, CatchesBrokenPrevLink) {
    Checker c;
    sent_range(c, 1, 2);
    deliver(c, 1);
    c.on_message(kDevice, mid(2), kConv, 2, "999");  // seq right, prev wrong
    EXPECT_EQ(c.check().order, 1u);
}

TEST(Checker, CatchesFirstMessageWithAPrev) {
    Checker c;
    c.on_sent(kDevice, mid(1), kConv, 1);
    c.on_message(kDevice, mid(1), kConv, 1, "12345");
    EXPECT_EQ(c.check().order, 1u);
}

TEST(Checker, RunMayStartLate) {
    // A device that joined at seq 7 starts its run there; no earlier seq is owed to it.
    Checker c;
    sent_range(c, 7, 9);
    for (int s = 7; s <= 9; ++s) deliver(c, s);
    EXPECT_TRUE(c.check().ok());
}

TEST(Checker, CatchesSeqDifferentFromSent) {
    Checker c;
    c.on_sent(kDevice, mid(1), kConv, 1);
    c.on_message(kDevice, mid(1), "d:1:3", 1, "0");
    EXPECT_EQ(c.check().mismatched, 1u);
}

TEST(Checker, KeepsConversationsApart) {
    Checker c;
    c.on_sent(kDevice, "a1", "d:1:2", 1);
    c.on_sent(kDevice, "b1", "d:2:3", 1);
    c.on_sent(kDevice, "a2", "d:1:2", 2);
    c.on_message(kDevice, "a1", "d:1:2", 1, "0");
    c.on_message(kDevice, "b1", "d:2:3", 1, "0");
    c.on_message(kDevice, "a2", "d:1:2", 2, "a1");
    auto r = c.check();
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.runs, 2u);
}

// A group: one message owed to several devices, each checked on its own.
std::shared_ptr<const std::vector<std::string>> devices(std::initializer_list<std::string> d) {
    return std::make_shared<const std::vector<std::string>>(d);
}

TEST(Checker, GroupFanOutCleanRunPasses) {
    Checker c;
    const std::string g = "g:7";
    auto all = devices({"30", "31", "32"});
    auto others = devices({"31", "32"});
    c.on_sent(all, "s1", g, 1);  // the creation message, to every member
    c.on_sent(others, "m2", g, 2);
    c.on_sent(others, "m3", g, 3);
    c.on_message("30", "s1", g, 1, "0");
    for (const char* d : {"31", "32"}) {
        c.on_message(d, "s1", g, 1, "0");
        c.on_message(d, "m2", g, 2, "s1");
        c.on_message(d, "m3", g, 3, "m2");
    }
    auto r = c.check();
    EXPECT_TRUE(r.ok()) << (r.examples.empty() ? "" : r.examples.front());
    EXPECT_EQ(r.sent, 3u);
    EXPECT_EQ(r.expected, 7u);
    EXPECT_EQ(r.devices, 3u);
    EXPECT_EQ(r.runs, 3u);
}

TEST(Checker, GroupCatchesOneMemberMissingOne) {
    Checker c;
    const std::string g = "g:7";
    c.on_sent(devices({"31", "32"}), "m1", g, 1);
    c.on_sent(devices({"31", "32"}), "m2", g, 2);
    c.on_message("31", "m1", g, 1, "0");
    c.on_message("31", "m2", g, 2, "m1");
    c.on_message("32", "m1", g, 1, "0");
    auto r = c.check();
    EXPECT_EQ(r.lost, 1u);
    ASSERT_FALSE(r.examples.empty());
    EXPECT_NE(r.examples.front().find("device 32"), std::string::npos);
}

TEST(Checker, GroupCatchesAMemberWithAnotherOrder) {
    // Member 32 sees m2 at seq 1: not the group's one order.
    Checker c;
    const std::string g = "g:7";
    c.on_sent(devices({"31", "32"}), "m1", g, 1);
    c.on_sent(devices({"31", "32"}), "m2", g, 2);
    c.on_message("31", "m1", g, 1, "0");
    c.on_message("31", "m2", g, 2, "m1");
    c.on_message("32", "m2", g, 1, "0");
    c.on_message("32", "m1", g, 2, "m2");
    auto r = c.check();
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.mismatched, 2u);
}

TEST(Checker, GroupCatchesDuplicateAtOneMember) {
    Checker c;
    const std::string g = "g:7";
    c.on_sent(devices({"31", "32"}), "m1", g, 1);
    c.on_message("31", "m1", g, 1, "0");
    c.on_message("32", "m1", g, 1, "0");
    c.on_message("32", "m1", g, 1, "0");
    EXPECT_EQ(c.check().duplicates, 1u);
}

TEST(Histogram, BucketsAreContiguousAndTight) {
    for (std::size_t i = 1; i < 3000; ++i) {
        ASSERT_EQ(Histogram::lowest_in(i), Histogram::highest_in(i - 1) + 1) << i;
        ASSERT_EQ(Histogram::index_of(Histogram::lowest_in(i)), i);
        ASSERT_EQ(Histogram::index_of(Histogram::highest_in(i)), i);
        auto lo = Histogram::lowest_in(i), hi = Histogram::highest_in(i);
        ASSERT_LE(static_cast<double>(hi - lo), static_cast<double>(lo) / 64.0) << i;
    }
}

TEST(Histogram, Percentiles) {
    Histogram h;
    for (std::uint64_t v = 1; v <= 1000; ++v) h.record(v * 1000);
    EXPECT_EQ(h.count(), 1000u);
    EXPECT_EQ(h.max(), 1000000u);
    EXPECT_EQ(h.min(), 1000u);
    auto near = [](std::uint64_t got, double want) { return std::abs(static_cast<double>(got) - want) <= want / 64.0; };
    EXPECT_TRUE(near(h.percentile(50), 500000)) << h.percentile(50);
    EXPECT_TRUE(near(h.percentile(99), 990000)) << h.percentile(99);
    EXPECT_TRUE(near(h.percentile(99.9), 999000)) << h.percentile(99.9);
    EXPECT_EQ(h.percentile(100), 1000000u);
    Histogram other;
    other.record(5000000);
    h.merge(other);
    EXPECT_EQ(h.max(), 5000000u);
    EXPECT_EQ(Histogram{}.percentile(99), 0u);
}

TEST(FrameScan, ReadsNatterdFrames) {
    std::string_view f =
        R"({"body":"nb 42","client_msg_id":"x","conversation_id":"d:1:2","from":{"device":"9","user":"1"},)"
        R"("kind":"text","message_id":"77","prev_message_id":"0","seq":3,"to":{"user":"2"},"ts":5,"type":"message"})";
    EXPECT_EQ(scan_string(f, "type"), "message");
    EXPECT_EQ(scan_string(f, "message_id"), "77");
    EXPECT_EQ(scan_string(f, "id"), std::nullopt);  // no key "id": *_id keys do not count
    EXPECT_EQ(scan_uint(f, "seq"), 3u);
    EXPECT_EQ(scan_string(f, "body"), "nb 42");
    EXPECT_EQ(scan_raw_string(R"({"body":"a\"b","x":1})", "body"), R"("a\"b")");
}

TEST(FrameScan, TopLevelSkipsNestedKeys) {
    // A system message: its event has a `type` and `user` of its own, before the frame's.
    std::string_view f =
        R"({"client_msg_id":"c","conversation_id":"g:5","event":{"by":"1","members":["1","2"],"name":"n \"x\" {","type":"created"},)"
        R"("from":{"device":"9","user":"1"},"kind":"system","message_id":"77","prev_message_id":"0","seq":1,)"
        R"("to":{"group":"5"},"ts":5,"type":"message"})";
    EXPECT_EQ(scan_string(f, "type"), "created");  // why the flat scan is not enough
    std::string type, kind, to;
    std::optional<std::string> seq;
    bool ok = scan_top_level(f, [&](std::string_view k, std::string_view v, bool is_string) {
        if (k == "type") type = v;
        if (k == "kind") kind = v;
        if (k == "to") to = v;
        if (k == "seq" && !is_string) seq = std::string(v);
    });
    EXPECT_TRUE(ok);
    EXPECT_EQ(type, "message");
    EXPECT_EQ(kind, "system");
    EXPECT_EQ(to, R"({"group":"5"})");
    EXPECT_EQ(seq, "1");
    EXPECT_EQ(frame_type(f), "message");
    EXPECT_EQ(frame_type(R"({"remaining":0,"type":"sync_done"})"), "sync_done");
    EXPECT_EQ(frame_type("not json"), std::nullopt);
    int calls = 0;
    EXPECT_TRUE(scan_top_level(" { } ", [&](auto, auto, bool) { ++calls; }));
    EXPECT_EQ(calls, 0);
    EXPECT_TRUE(scan_top_level(R"({"a" : true , "b":[1,{"c":"]"}] })", [&](auto, auto, bool) { ++calls; }));
    EXPECT_EQ(calls, 2);
    for (std::string_view bad : {"", "[1]", R"({"a":})", R"({"a":"x")", R"({"a":{"b":1})", R"({"a" 1})"})
        EXPECT_FALSE(scan_top_level(bad, [](auto, auto, bool) {})) << bad;
}

TEST(Users, ReadsSeedOutputAndRejectsBadLines) {
    std::istringstream good(R"({"access_token":"t","device_id":"2","user_id":"1","username":"u0"})" "\n\n");
    auto users = read_users(good);
    ASSERT_EQ(users.size(), 1u);
    EXPECT_EQ(users[0].device_id, "2");
    std::istringstream bad(R"({"user_id":"1"})");
    EXPECT_THROW(read_users(bad), std::runtime_error);
}

}  // namespace
}  // namespace natter::bench
