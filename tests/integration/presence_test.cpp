// Presence and typing: contacts see each other online and last seen; a
// client that vanishes without closing goes offline after the TTL; typing is
// relayed to the conversation's other members and never stored.
#include <gtest/gtest.h>

#include <map>

#include "support/test_server.hpp"

namespace natter::test {
namespace {

// Makes alice and bob contacts: one message between them.
std::string befriend(Duo& d) {
    d.a->send(send_frame(d.bob.user_id, "hi"));
    auto conv = d.a->expect("sent")["conversation_id"].get<std::string>();
    next_message(*d.b);
    return conv;
}

json watch(WsClient& ws, const std::vector<std::string>& users, const std::string& id = "") {
    json f = {{"type", "presence"}, {"users", users}};
    if (!id.empty()) f["id"] = id;
    ws.send(f);
    return f;
}

TEST(Presence, AContactSeesOnlineThenOfflineWithLastSeen) {
    TestServer s;
    auto d = Duo::start(s);
    befriend(d);
    watch(*d.b, {d.alice.user_id});
    auto p = d.b->expect("presence");
    EXPECT_EQ(p["user"], d.alice.user_id);
    EXPECT_EQ(p["status"], "online");
    EXPECT_FALSE(p.contains("last_seen"));

    auto before = SystemClock().now_ms();
    d.a->close();
    p = d.b->expect("presence");
    EXPECT_EQ(p["user"], d.alice.user_id);
    EXPECT_EQ(p["status"], "offline");
    ASSERT_TRUE(p.contains("last_seen"));
    EXPECT_GE(p["last_seen"].get<std::int64_t>(), before);

    // Back online: watchers hear it; a second device does not flip anything.
    auto a1 = connect_synced(s.port(), d.alice);
    p = d.b->expect("presence");
    EXPECT_EQ(p["status"], "online");
    auto laptop = login(s.port(), "alice");
    auto a2 = connect_synced(s.port(), laptop);
    a1->close();
    // Still online with the laptop: the next frame bob gets is the laptop going.
    a2->close();
    p = d.b->expect("presence");
    EXPECT_EQ(p["status"], "offline") << "only the last device going makes alice offline";
}

TEST(Presence, AnOfflineContactShowsItsLastSeenAndTheSetIsReplaced) {
    TestServer s;
    auto d = Duo::start(s);
    befriend(d);
    d.a->close();
    auto carol = signup(s.port(), "carol");
    auto c = connect_synced(s.port(), carol);
    c->send(send_frame(d.bob.user_id, "hey bob"));
    c->expect("sent");
    ASSERT_FALSE(next_message(*d.b).is_null());

    watch(*d.b, {d.alice.user_id, carol.user_id});
    std::map<std::string, json> seen;
    for (int i = 0; i < 2; ++i) {
        auto p = d.b->expect("presence");
        seen[p["user"]] = p;
    }
    EXPECT_EQ(seen[carol.user_id]["status"], "online");
    EXPECT_EQ(seen[d.alice.user_id]["status"], "offline");
    EXPECT_GT(seen[d.alice.user_id].value("last_seen", 0), 0) << "last seen is known";

    // Watching only alice now: her status again, and carol leaving is not told.
    watch(*d.b, {d.alice.user_id}, "w2");
    auto again = d.b->expect("presence");
    EXPECT_EQ(again["user"], d.alice.user_id);
    EXPECT_EQ(again["status"], "offline");
    d.b->keep_notices(true);
    c->close();
    auto a = connect_synced(s.port(), d.alice);
    auto p = d.b->expect("presence");
    EXPECT_EQ(p["user"], d.alice.user_id) << "carol's offline was not sent: " << p.dump();
    EXPECT_EQ(p["status"], "online");
    // [] clears the set (the pong says bob's frame was handled).
    watch(*d.b, {}, "w3");
    d.b->send({{"type", "ping"}, {"id", "cleared"}});
    EXPECT_EQ(d.b->expect("pong")["id"], "cleared");
    a->close();
    d.b->send({{"type", "ping"}, {"id", "after"}});
    expect_none_before(*d.b, "pong", "presence");
}

TEST(Presence, AClientThatVanishesWithoutClosingGoesOfflineAfterTheTtl) {
    TestServer s([](Config& c) { c.limits.presence_ttl_ms = 1500; });
    auto d = Duo::start(s);
    befriend(d);
    watch(*d.b, {d.alice.user_id});
    EXPECT_EQ(d.b->expect("presence")["status"], "online");
    // Alice's client stops reading and answering pings, and never closes.
    // Bob keeps reading (his client answers the server's pings).
    auto p = d.b->expect("presence", std::chrono::milliseconds(10000));
    EXPECT_EQ(p["user"], d.alice.user_id);
    EXPECT_EQ(p["status"], "offline");
    // Alice's socket was closed by the server.
    EXPECT_NE(d.a->wait_close(), -1);
}

TEST(Presence, OnlyContactsAndBoundedSets) {
    TestServer s([](Config& c) { c.limits.max_presence_users = 3; });
    auto d = Duo::start(s);
    auto stranger = signup(s.port(), "stranger");
    watch(*d.b, {d.alice.user_id}, "p1");
    auto e = d.b->expect("error");
    EXPECT_EQ(e["code"], "forbidden");
    EXPECT_EQ(e["id"], "p1");
    befriend(d);
    watch(*d.b, {d.alice.user_id, stranger.user_id}, "p2");
    e = d.b->expect("error");
    EXPECT_EQ(e["code"], "forbidden") << "one stranger refuses the whole set";
    EXPECT_NE(e["message"].get<std::string>().find(stranger.user_id), std::string::npos);
    watch(*d.b, {"1", "2", "3", "4"}, "p3");
    EXPECT_EQ(d.b->expect("error")["code"], "too_large");
    d.b->send({{"type", "presence"}, {"id", "p4"}, {"users", "everyone"}});
    EXPECT_EQ(d.b->expect("error")["code"], "invalid");
    // Oneself is always allowed.
    watch(*d.b, {d.bob.user_id}, "p5");
    auto p = d.b->expect("presence");
    EXPECT_EQ(p["user"], d.bob.user_id);
    EXPECT_EQ(p["status"], "online");
}

TEST(Typing, RelayedToTheOthersAndNeverStored) {
    TestServer s;
    auto d = Duo::start(s);
    auto conv = befriend(d);
    d.a->send({{"type", "typing"}, {"conversation_id", conv}, {"state", "start"}});
    auto t = d.b->expect("typing");
    EXPECT_EQ(t["conversation_id"], conv);
    EXPECT_EQ(t["user"], d.alice.user_id);
    EXPECT_EQ(t["state"], "start");
    d.a->send({{"type", "typing"}, {"conversation_id", conv}, {"state", "stop"}});
    EXPECT_EQ(d.b->expect("typing")["state"], "stop");

    // Not stored: history holds the one message, bob's inbox nothing new.
    auto page = http(s.port(), "GET", "/v1/conversations/" + conv + "/messages", nullptr, d.bob.access_token);
    EXPECT_EQ(page.body["messages"].size(), 1u);
    d.b->close();
    std::vector<json> pushed;
    connect_synced(s.port(), d.bob, &pushed);
    EXPECT_TRUE(pushed.empty());

    // Bad typing frames.
    d.a->send({{"type", "typing"}, {"id", "t1"}, {"conversation_id", conv}, {"state", "maybe"}});
    EXPECT_EQ(d.a->expect("error")["code"], "invalid");
    d.a->send({{"type", "typing"}, {"id", "t2"}, {"state", "start"}});
    EXPECT_EQ(d.a->expect("error")["code"], "invalid");
    d.a->send({{"type", "typing"}, {"id", "t3"}, {"conversation_id", "d:1:2"}, {"state", "start"}});
    EXPECT_EQ(d.a->expect("error")["code"], "forbidden");
    // Nobody is shown typing by a stranger: a 1:1 chat exists from its first message.
    auto stranger = signup(s.port(), "stranger");
    auto low = std::min(std::stoull(d.alice.user_id), std::stoull(stranger.user_id));
    auto high = std::max(std::stoull(d.alice.user_id), std::stoull(stranger.user_id));
    d.a->send({{"type", "typing"}, {"id", "t4"}, {"conversation_id", "d:" + std::to_string(low) + ":" + std::to_string(high)},
               {"state", "start"}});
    auto e = d.a->expect("error");
    EXPECT_EQ(e["id"], "t4");
    EXPECT_EQ(e["code"], "forbidden");
}

TEST(Typing, InAGroupEveryOtherMemberSeesIt) {
    TestServer s;
    auto alice = signup(s.port(), "alice"), bob = signup(s.port(), "bob"), carol = signup(s.port(), "carol");
    std::string gid = create_group(s.port(), alice, "trio", {&bob, &carol})["group_id"];
    auto a = connect_synced(s.port(), alice);
    auto b = connect_synced(s.port(), bob);
    auto c = connect_synced(s.port(), carol);
    a->send({{"type", "typing"}, {"conversation_id", "g:" + gid}, {"state", "start"}});
    for (auto* ws : {b.get(), c.get()}) {
        auto t = ws->expect("typing");
        EXPECT_EQ(t["user"], alice.user_id);
        EXPECT_EQ(t["conversation_id"], "g:" + gid);
    }
    // Not echoed to the typist.
    a->send({{"type", "ping"}, {"id", "x"}});
    expect_none_before(*a, "pong", "typing");
}

TEST(Typing, AFloodIsRateLimited) {
    TestServer s;
    auto d = Duo::start(s);
    auto conv = befriend(d);
    for (int i = 0; i < 60; ++i) d.a->send({{"type", "typing"}, {"id", std::to_string(i)}, {"conversation_id", conv}, {"state", "start"}});
    auto e = d.a->expect("error");
    EXPECT_EQ(e["code"], "rate_limited");
    EXPECT_GT(e.value("retry_after_ms", 0), 0);
}

}  // namespace
}  // namespace natter::test
