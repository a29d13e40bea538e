// Two users chatting, offline delivery, retries, several devices, order.
#include <gtest/gtest.h>

#include <set>

#include "support/test_server.hpp"

namespace natter::test {
namespace {

// Acks every message frame in `frames`.
void ack_all(WsClient& ws, const std::vector<json>& frames) {
    json ids = json::array();
    for (const auto& f : frames)
        if (f["type"] == "message") ids.push_back(f["message_id"]);
    if (!ids.empty()) ws.send({{"type", "ack"}, {"message_ids", ids}});
}

TEST(Messaging, TwoUsersChatInRealTime) {
    TestServer s;
    auto [alice, bob, a, b] = Duo::start(s);

    a->send(send_frame(bob.user_id, "hi bob", "", "r1"));
    auto sent = a->expect("sent");
    EXPECT_EQ(sent["id"], "r1");
    EXPECT_EQ(sent["seq"], 1);
    EXPECT_EQ(sent["prev_message_id"], "0");
    auto lo = std::min(std::stoull(alice.user_id), std::stoull(bob.user_id));
    auto hi = std::max(std::stoull(alice.user_id), std::stoull(bob.user_id));
    EXPECT_EQ(sent["conversation_id"], "d:" + std::to_string(lo) + ":" + std::to_string(hi));

    auto m = b->expect("message");
    EXPECT_EQ(m["message_id"], sent["message_id"]);
    EXPECT_EQ(m["body"], "hi bob");
    EXPECT_EQ(m["kind"], "text");
    EXPECT_EQ(m["from"]["user"], alice.user_id);
    EXPECT_EQ(m["from"]["device"], alice.device_id);
    EXPECT_EQ(m["to"]["user"], bob.user_id);
    EXPECT_EQ(m["seq"], 1);
    EXPECT_EQ(m["ts"], sent["ts"]);

    b->send(send_frame(alice.user_id, "hi alice"));
    auto reply = a->expect("message");
    EXPECT_EQ(reply["seq"], 2);
    EXPECT_EQ(reply["prev_message_id"], sent["message_id"]);
}

TEST(Messaging, AckedMessagesAreGoneUnackedComeBack) {
    TestServer s;
    auto [alice, bob, a, b] = Duo::start(s);
    a->send(send_frame(bob.user_id, "one"));
    a->send(send_frame(bob.user_id, "two"));
    auto one = b->expect("message");
    auto two = b->expect("message");
    b->send({{"type", "ack"}, {"message_ids", {one["message_id"]}}});
    b->send({{"type", "ping"}, {"id", "p"}});
    b->expect("pong");
    b->close();

    // Reconnecting re-pushes only the unacked message, with the same id.
    std::vector<json> again;
    auto b2 = connect_synced(s.port(), bob, &again);
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0]["message_id"], two["message_id"]);
    ack_all(*b2, again);
    b2->send({{"type", "sync"}});
    EXPECT_EQ(b2->expect("sync_done")["remaining"], 0);
}

TEST(Messaging, ThousandMessagesToAnOfflineDeviceArriveInOrderOnce) {
    TestServer s([](Config& c) { c.limits.send_burst = 2000; });
    auto alice = signup(s.port(), "alice");
    auto bob = signup(s.port(), "bob");
    auto a = connect_synced(s.port(), alice);
    constexpr int kCount = 1000;
    for (int i = 0; i < kCount; ++i) a->send(send_frame(bob.user_id, "m" + std::to_string(i)));
    for (int i = 0; i < kCount; ++i) ASSERT_EQ(a->expect("sent")["seq"], i + 1);

    auto b = connect(s.port(), bob);
    // The first window arrives without acks, and no more than the window.
    std::vector<json> window;
    for (int i = 0; i < 256; ++i) window.push_back(b->expect("message"));
    b->send({{"type", "ping"}, {"id", "w"}});
    EXPECT_EQ(b->expect("pong")["id"], "w") << "more than the window was pushed before any ack";

    std::set<std::string> ids;
    int next = 1;
    auto take = [&](const json& m) {
        EXPECT_EQ(m["seq"], next) << m.dump();
        EXPECT_EQ(m["body"], "m" + std::to_string(next - 1));
        EXPECT_TRUE(ids.insert(m["message_id"].get<std::string>()).second) << "pushed twice";
        ++next;
    };
    for (auto& m : window) take(m);
    ack_all(*b, window);
    EXPECT_TRUE(drain(*b, take)) << "stalled at seq " << next;
    EXPECT_EQ(next, kCount + 1);
}

TEST(Messaging, RetriedSendIsOneMessageAndReusedIdWithOtherPayloadConflicts) {
    TestServer s;
    auto [alice, bob, a, b] = Duo::start(s);
    auto id = new_uuid();
    a->send(send_frame(bob.user_id, "hello", id, "first"));
    auto first = a->expect("sent");
    a->send(send_frame(bob.user_id, "hello", id, "retry"));
    auto retry = a->expect("sent");
    EXPECT_EQ(retry["id"], "retry");
    EXPECT_EQ(retry["message_id"], first["message_id"]);
    EXPECT_EQ(retry["seq"], first["seq"]);
    EXPECT_EQ(retry["ts"], first["ts"]);

    a->send(send_frame(bob.user_id, "something else", id, "reuse"));
    auto conflict = a->expect("error");
    EXPECT_EQ(conflict["code"], "conflict");
    EXPECT_EQ(conflict["id"], "reuse");

    a->send(send_frame(bob.user_id, "after", "", "next"));
    EXPECT_EQ(a->expect("sent")["seq"], 2) << "a retry must not take a seq";
    EXPECT_EQ(b->expect("message")["message_id"], first["message_id"]);
    EXPECT_EQ(b->expect("message")["body"], "after") << "the retry was delivered twice";
}

TEST(Messaging, SendersOtherDevicesGetItsMessagesIncludingToItself) {
    TestServer s;
    auto bob = signup(s.port(), "bob");
    auto a1 = signup(s.port(), "alice");
    auto a2 = login(s.port(), "alice");
    auto a3 = login(s.port(), "alice");
    auto w1 = connect_synced(s.port(), a1);
    auto w2 = connect_synced(s.port(), a2);
    auto w3 = connect_synced(s.port(), a3);
    auto wb = connect_synced(s.port(), bob);

    w1->send(send_frame(bob.user_id, "to bob"));
    auto sent = w1->expect("sent");
    for (auto* w : {w2.get(), w3.get(), wb.get()}) EXPECT_EQ(w->expect("message")["message_id"], sent["message_id"]);

    w1->send(send_frame(a1.user_id, "note to self"));
    auto self = w1->expect("sent");
    EXPECT_EQ(self["conversation_id"], "d:" + a1.user_id + ":" + a1.user_id);
    for (auto* w : {w2.get(), w3.get()}) {
        auto m = w->expect("message");
        EXPECT_EQ(m["body"], "note to self");
        EXPECT_EQ(m["conversation_id"], self["conversation_id"]);
    }
    // The sending device gets `sent`, never a copy of its own message.
    w1->send({{"type", "ping"}, {"id", "last"}});
    EXPECT_EQ(w1->expect("pong")["id"], "last");
}

TEST(Messaging, PipelinedBurstKeepsTheSendersOrder) {
    TestServer s([](Config& c) { c.limits.send_burst = 500; });
    auto [alice, bob, a, b] = Duo::start(s);
    constexpr int kBurst = 300;
    for (int i = 0; i < kBurst; ++i) a->send(send_frame(bob.user_id, std::to_string(i), "", std::to_string(i)));
    for (int i = 0; i < kBurst; ++i) {
        auto sent = a->expect("sent");
        EXPECT_EQ(sent["id"], std::to_string(i));
        EXPECT_EQ(sent["seq"], i + 1);
    }
    std::string prev = "0";
    for (int i = 0; i < kBurst; ++i) {
        auto m = b->expect("message");
        EXPECT_EQ(m["body"], std::to_string(i));
        EXPECT_EQ(m["prev_message_id"], prev);
        prev = m["message_id"];
        b->send({{"type", "ack"}, {"message_ids", {m["message_id"]}}});
    }
}

TEST(Messaging, MessagesSentWhileConnectingAreNeitherLostNorDoubled) {
    TestServer s([](Config& c) { c.limits.send_burst = 1000; });
    auto alice = signup(s.port(), "alice");
    auto bob = signup(s.port(), "bob");
    auto a = connect_synced(s.port(), alice);
    constexpr int kCount = 400;
    for (int i = 0; i < kCount / 2; ++i) a->send(send_frame(bob.user_id, std::to_string(i)));
    // Bob connects while the second half is still being sent.
    auto b = connect(s.port(), bob);
    for (int i = kCount / 2; i < kCount; ++i) a->send(send_frame(bob.user_id, std::to_string(i)));
    int next = 0;
    bool synced = false;
    while (next < kCount || !synced) {
        auto f = b->recv();
        ASSERT_TRUE(f) << "stalled at " << next;
        if ((*f)["type"] == "sync_done") {
            synced = true;
            continue;
        }
        ASSERT_EQ((*f)["type"], "message");
        ASSERT_EQ((*f)["body"], std::to_string(next)) << "out of order or doubled";
        b->send({{"type", "ack"}, {"message_ids", {(*f)["message_id"]}}});
        ++next;
    }
}

TEST(Messaging, SyncPushesTheUnackedInboxAgain) {
    TestServer s;
    auto [alice, bob, a, b] = Duo::start(s);
    a->send(send_frame(bob.user_id, "x"));
    auto m = b->expect("message");
    b->send({{"type", "sync"}});
    EXPECT_EQ(b->expect("message")["message_id"], m["message_id"]);
    EXPECT_EQ(b->expect("sync_done")["remaining"], 1);
}

}  // namespace
}  // namespace natter::test
