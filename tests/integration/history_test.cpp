// History and retention over the wire: conversation lists, paging back,
// participants only, and what the sweeper removes (on an injected clock).
#include <gtest/gtest.h>

#include "ports/clock.hpp"
#include "support/test_server.hpp"

namespace natter::test {
namespace {

std::string conv_of(const Account& x, const Account& y) {
    auto a = std::stoull(x.user_id), b = std::stoull(y.user_id);
    return "d:" + std::to_string(std::min(a, b)) + ":" + std::to_string(std::max(a, b));
}

HttpResult get(std::uint16_t port, const std::string& target, const Account& who) {
    return http(port, "GET", target, nullptr, who.access_token);
}

// Blocks until everything `ws` sent before is committed: its own send's
// `sent` comes after them in the store's single write queue.
void barrier(WsClient& ws, const Account& to) {
    ws.send(send_frame(to.user_id, "barrier"));
    ws.expect("sent");
}

TEST(History, ConversationsAndPagesNewestFirst) {
    TestServer s;
    auto alice = signup(s.port(), "alice");
    auto bob = signup(s.port(), "bob");
    auto carol = signup(s.port(), "carol");
    auto a = connect_synced(s.port(), alice);
    for (int i = 1; i <= 5; ++i) {
        a->send(send_frame(bob.user_id, "m" + std::to_string(i)));
        a->expect("sent");
    }
    auto c = connect_synced(s.port(), carol);
    c->send(send_frame(alice.user_id, "hi alice"));
    c->expect("sent");

    auto list = get(s.port(), "/v1/conversations", alice);
    ASSERT_EQ(list.status, 200) << list.raw;
    ASSERT_EQ(list.body["conversations"].size(), 2u);
    EXPECT_EQ(list.body["conversations"][0]["conversation_id"], conv_of(alice, carol));
    EXPECT_EQ(list.body["conversations"][0]["unread"], 1);
    EXPECT_EQ(list.body["conversations"][0]["last_message"]["body"], "hi alice");
    EXPECT_EQ(list.body["conversations"][1]["conversation_id"], conv_of(alice, bob));
    EXPECT_EQ(list.body["conversations"][1]["unread"], 0) << "her own messages are not unread";
    EXPECT_EQ(get(s.port(), "/v1/conversations", bob).body["conversations"][0]["unread"], 5);

    auto conv = conv_of(alice, bob);
    auto page = get(s.port(), "/v1/conversations/" + conv + "/messages?limit=2", bob);
    ASSERT_EQ(page.status, 200) << page.raw;
    ASSERT_EQ(page.body["messages"].size(), 2u);
    EXPECT_EQ(page.body["messages"][0]["seq"], 5);
    EXPECT_EQ(page.body["messages"][1]["seq"], 4);
    EXPECT_EQ(page.body["messages"][0]["body"], "m5");
    EXPECT_EQ(page.body["messages"][0]["from"]["user"], alice.user_id);
    auto older = get(s.port(), "/v1/conversations/" + conv + "/messages?before_seq=4&limit=10", bob);
    ASSERT_EQ(older.body["messages"].size(), 3u);
    EXPECT_EQ(older.body["messages"][0]["seq"], 3);
    EXPECT_EQ(older.body["messages"][2]["seq"], 1);
    // The default page, and the id percent-encoded as a careful client sends it.
    auto encoded = conv;
    for (auto at = encoded.find(':'); at != std::string::npos; at = encoded.find(':')) encoded.replace(at, 1, "%3A");
    EXPECT_EQ(get(s.port(), "/v1/conversations/" + encoded + "/messages", alice).body["messages"].size(), 5u);
}

TEST(History, OnlyParticipantsReadAConversation) {
    TestServer s;
    auto alice = signup(s.port(), "alice");
    auto bob = signup(s.port(), "bob");
    auto eve = signup(s.port(), "eve");
    auto a = connect_synced(s.port(), alice);
    a->send(send_frame(bob.user_id, "secret"));
    a->expect("sent");
    auto conv = conv_of(alice, bob);
    auto r = get(s.port(), "/v1/conversations/" + conv + "/messages", eve);
    EXPECT_EQ(r.status, 403);
    EXPECT_EQ(r.raw.find("secret"), std::string::npos);
    EXPECT_TRUE(get(s.port(), "/v1/conversations", eve).body["conversations"].empty());
    EXPECT_EQ(get(s.port(), "/v1/conversations/" + conv + "/messages", Account{}).status, 401);
    EXPECT_EQ(get(s.port(), "/v1/conversations/nonsense/messages", eve).status, 404);
    EXPECT_EQ(get(s.port(), "/v1/conversations/" + conv + "/messages?limit=201", bob).status, 400);
    EXPECT_EQ(get(s.port(), "/v1/conversations/" + conv + "/messages?limit=0", bob).status, 400);
    EXPECT_EQ(get(s.port(), "/v1/conversations/" + conv + "/messages?before_seq=x", bob).status, 400);
    EXPECT_EQ(http(s.port(), "POST", "/v1/conversations", nullptr, bob.access_token).status, 405);
}

class Retention : public ::testing::Test {
protected:
    ManualClock clock{SystemClock().now_ms()};
    static constexpr std::int64_t kHour = 3600 * 1000;
};

TEST_F(Retention, DeliveredHistoryGoesAfterItsRetentionUndeliveredStays) {
    TestServer s("", [](Config& c) {
        c.retention.history_s = 3600;
        c.retention.inbox_s = 24 * 3600;
    }, &clock);
    auto alice = signup(s.port(), "alice");
    auto bob = signup(s.port(), "bob");
    auto a = connect_synced(s.port(), alice);
    for (int i = 0; i < 3; ++i) {
        a->send(send_frame(bob.user_id, "old"));
        a->expect("sent");
    }
    clock.advance_ms(kHour + 1);
    s.app().sweep_now();
    // An hour on, the access tokens have expired: sign the same devices in again.
    alice = login(s.port(), "alice", alice.device_id);
    bob = login(s.port(), "bob", bob.device_id);
    auto conv = conv_of(alice, bob);
    EXPECT_EQ(get(s.port(), "/v1/conversations/" + conv + "/messages", alice).body["messages"].size(), 3u)
        << "bob has not received them: they must stay";

    auto b = connect(s.port(), bob);
    int got = 0;
    ASSERT_TRUE(drain(*b, [&](const json&) { ++got; }));
    EXPECT_EQ(got, 3);
    barrier(*b, alice);  // bob's acks are committed
    s.app().sweep_now();
    auto page = get(s.port(), "/v1/conversations/" + conv + "/messages", alice);
    ASSERT_EQ(page.body["messages"].size(), 1u) << page.raw;
    EXPECT_EQ(page.body["messages"][0]["body"], "barrier") << "only the recent message is left";
}

TEST_F(Retention, AnInboxPastItsRetentionIsDroppedAndTheDeviceIsTold) {
    TestServer s("", [](Config& c) { c.retention.inbox_s = 3600; }, &clock);
    auto alice = signup(s.port(), "alice");
    auto bob = signup(s.port(), "bob");
    auto a = connect_synced(s.port(), alice);
    a->send(send_frame(bob.user_id, "too late"));
    a->expect("sent");
    clock.advance_ms(kHour + 1);
    auto report = s.app().sweep_now();
    EXPECT_EQ(report.inbox, 1u);
    bob = login(s.port(), "bob", bob.device_id);  // the old token expired meanwhile
    auto b = connect(s.port(), bob);
    auto done = b->expect("sync_done");
    EXPECT_EQ(done["truncated"], true);
    barrier(*b, alice);  // the mark's clearing is committed
    b->close();
    auto again = connect(s.port(), bob);
    EXPECT_FALSE(again->expect("sync_done").contains("truncated")) << "told once";
}

TEST_F(Retention, ZeroKeepsNothingBeyondDeliveryButRetriesStayIdempotent) {
    TestServer s("", [](Config& c) { c.retention.history_s = 0; }, &clock);
    auto [alice, bob, a, b] = Duo::start(s);
    auto id = new_uuid();
    a->send(send_frame(bob.user_id, "ephemeral", id));
    auto first = a->expect("sent");
    auto m = b->expect("message");
    b->send({{"type", "ack"}, {"message_ids", {m["message_id"]}}});
    clock.advance_ms(1);
    barrier(*b, bob);  // to himself: alice's inbox stays empty
    clock.advance_ms(1);
    s.app().sweep_now();
    auto conv = conv_of(alice, bob);
    EXPECT_TRUE(get(s.port(), "/v1/conversations/" + conv + "/messages", alice).body["messages"].empty());

    a->send(send_frame(bob.user_id, "ephemeral", id));
    auto retry = a->expect("sent");
    EXPECT_EQ(retry["message_id"], first["message_id"]);
    EXPECT_EQ(retry["seq"], first["seq"]);
    b->send({{"type", "ping"}, {"id", "quiet"}});
    EXPECT_EQ(b->expect("pong")["id"], "quiet") << "the retry was delivered again";
}

}  // namespace
}  // namespace natter::test
