// Receipts as watermarks: delivered when a recipient's device acks, read
// when the recipient says so; live to the sender's devices, on the next sync
// when they were offline, and per member over HTTP.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>

#include "support/test_server.hpp"

namespace natter::test {
namespace {

HttpResult get(std::uint16_t port, const std::string& path, const Account& a) {
    return http(port, "GET", path, nullptr, a.access_token);
}

// Receipts until one of `by` with `status` reaches `seq`; false on timeout.
// Messages on the way (a sender's other device gets copies) are acked.
bool wait_receipt(WsClient& ws, const std::string& by, const std::string& status, std::int64_t seq) {
    ws.keep_notices(true);
    for (;;) {
        auto f = ws.recv();
        if (!f) {
            ADD_FAILURE() << "no " << status << " receipt by " << by << " up to " << seq;
            return false;
        }
        const auto& r = *f;
        if (r["type"] == "message") ws.send({{"type", "ack"}, {"message_ids", {r["message_id"]}}});
        if (r["type"] != "receipt") continue;
        if (r["by"] == by && r["status"] == status && r["up_to_seq"].get<std::int64_t>() >= seq) {
            EXPECT_EQ(r["up_to_seq"], seq) << "a watermark never passes what was delivered or read";
            return true;
        }
    }
}

std::map<std::string, std::pair<std::int64_t, std::int64_t>> receipts(std::uint16_t port, const std::string& conv,
                                                                     const Account& a) {
    auto r = get(port, "/v1/conversations/" + conv + "/receipts", a);
    EXPECT_EQ(r.status, 200) << r.raw;
    std::map<std::string, std::pair<std::int64_t, std::int64_t>> out;
    for (const auto& m : r.body["members"]) out[m["user_id"]] = {m["delivered_seq"], m["read_seq"]};
    return out;
}

TEST(Receipts, DirectChatTicksMoveFromSentToDeliveredToRead) {
    TestServer s;
    auto d = Duo::start(s);
    auto alice_laptop = login(s.port(), "alice");
    auto laptop = connect_synced(s.port(), alice_laptop);
    for (int i = 0; i < 3; ++i) {
        d.a->send(send_frame(d.bob.user_id, "hi " + std::to_string(i)));
        d.a->expect("sent");
    }
    std::string conv;
    for (int i = 0; i < 3; ++i) conv = next_message(*d.b)["conversation_id"];  // bob's phone acks each
    // Both of alice's devices see the ticks.
    EXPECT_TRUE(wait_receipt(*d.a, d.bob.user_id, "delivered", 3));
    EXPECT_TRUE(wait_receipt(*laptop, d.bob.user_id, "delivered", 3));
    auto marks = receipts(s.port(), conv, d.alice);
    EXPECT_EQ(marks[d.bob.user_id], std::make_pair(std::int64_t(3), std::int64_t(0)));
    EXPECT_EQ(get(s.port(), "/v1/conversations", d.bob).body["conversations"][0]["unread"], 3);

    d.b->send({{"type", "read"}, {"conversation_id", conv}, {"up_to_seq", 2}});
    EXPECT_TRUE(wait_receipt(*d.a, d.bob.user_id, "read", 2));
    marks = receipts(s.port(), conv, d.bob);
    EXPECT_EQ(marks[d.bob.user_id], std::make_pair(std::int64_t(3), std::int64_t(2)));
    EXPECT_EQ(get(s.port(), "/v1/conversations", d.bob).body["conversations"][0]["unread"], 1)
        << "unread follows the read watermark";

    // Reading again lower moves nothing and tells nobody.
    d.b->send({{"type", "read"}, {"conversation_id", conv}, {"up_to_seq", 1}});
    d.b->send({{"type", "read"}, {"conversation_id", conv}, {"up_to_seq", 3}});
    auto r = d.a->expect("receipt");
    EXPECT_EQ(r["status"], "read");
    EXPECT_EQ(r["up_to_seq"], 3) << "the lower read was not announced";
    d.a->keep_notices(false);
    EXPECT_EQ(get(s.port(), "/v1/conversations", d.bob).body["conversations"][0]["unread"], 0);
}

TEST(Receipts, ASenderOfflineGetsTheWatermarksOnItsNextSyncOnce) {
    TestServer s;
    auto d = Duo::start(s);
    for (int i = 0; i < 4; ++i) {
        d.a->send(send_frame(d.bob.user_id, "m" + std::to_string(i)));
        d.a->expect("sent");
    }
    d.a->close();
    std::string conv;
    for (int i = 0; i < 4; ++i) conv = next_message(*d.b)["conversation_id"];
    d.b->send({{"type", "read"}, {"id", "r"}, {"conversation_id", conv}, {"up_to_seq", 3}});
    // The read is committed once GET shows it.
    ASSERT_TRUE(eventually([&] { return receipts(s.port(), conv, d.bob)[d.bob.user_id].second == 3; }))
        << "the read watermark never moved";

    auto a = connect(s.port(), d.alice);
    a->keep_notices(true);
    std::map<std::string, std::int64_t> got;
    for (;;) {
        auto f = a->recv();
        ASSERT_TRUE(f) << "no sync_done";
        if ((*f)["type"] == "sync_done") break;
        if ((*f)["type"] == "receipt" && (*f)["by"] == d.bob.user_id) got[(*f)["status"]] = (*f)["up_to_seq"];
    }
    EXPECT_EQ(got["delivered"], 4);
    EXPECT_EQ(got["read"], 3);

    // Told once: the next connection of that device catches up on nothing.
    a->close();
    a = connect(s.port(), d.alice);
    expect_none_before(*a, "sync_done", "receipt");
}

TEST(Receipts, AGroupShowsDeliveredAndReadPerMember) {
    TestServer s;
    auto alice = signup(s.port(), "alice"), bob = signup(s.port(), "bob"), carol = signup(s.port(), "carol");
    std::string gid = create_group(s.port(), alice, "trio", {&bob, &carol})["group_id"];
    std::string conv = "g:" + gid;
    auto a = connect_synced(s.port(), alice);
    auto b = connect_synced(s.port(), bob);
    auto c = connect_synced(s.port(), carol);
    a->send(group_send_frame(gid, "lunch?"));
    auto sent = a->expect("sent");
    ASSERT_EQ(sent["seq"], 2);
    for (auto* ws : {b.get(), c.get()}) {
        auto m = next_message(*ws, [](const json& m) { return m["kind"] == "text"; });
        ASSERT_EQ(m["body"], "lunch?");
    }
    EXPECT_TRUE(wait_receipt(*a, bob.user_id, "delivered", 2));
    // Carol's delivered receipt may have come before bob's; the watermarks tell.
    ASSERT_TRUE(eventually([&] { return receipts(s.port(), conv, alice)[carol.user_id].first == 2; }));
    c->send({{"type", "read"}, {"conversation_id", conv}, {"up_to_seq", 2}});
    EXPECT_TRUE(wait_receipt(*a, carol.user_id, "read", 2));

    auto marks = receipts(s.port(), conv, bob);
    ASSERT_EQ(marks.size(), 3u);
    EXPECT_EQ(marks[bob.user_id], std::make_pair(std::int64_t(2), std::int64_t(0)));
    EXPECT_EQ(marks[carol.user_id], std::make_pair(std::int64_t(2), std::int64_t(2)));
    // "Delivered to all": every other member's delivered watermark has seq 2.
    for (const auto& [user, mark] : marks)
        if (user != alice.user_id) {
            EXPECT_GE(mark.first, 2) << user;
        }
}

TEST(Receipts, AMemberRemovedFromAGroupIsNotToldWhoReadsItAnyMore) {
    TestServer s;
    auto alice = signup(s.port(), "alice"), bob = signup(s.port(), "bob"), carol = signup(s.port(), "carol");
    std::string gid = create_group(s.port(), alice, "trio", {&bob, &carol})["group_id"];
    std::string conv = "g:" + gid;
    auto b = connect_synced(s.port(), bob);
    auto c = connect_synced(s.port(), carol);
    c->send(group_send_frame(gid, "carol was here"));
    c->expect("sent");
    EXPECT_EQ(http(s.port(), "DELETE", "/v1/groups/" + gid + "/members/" + carol.user_id, nullptr, alice.access_token).status, 204);
    // Bob reads everything: carol's message and her removal.
    b->send({{"type", "read"}, {"conversation_id", conv}, {"up_to_seq", 3}});
    EXPECT_TRUE(wait_receipt(*b, bob.user_id, "read", 3)) << "bob's own devices are told";
    // Carol would have been told before bob (the reader comes last): nothing came.
    c->send({{"type", "ping"}, {"id", "after"}});
    expect_none_before(*c, "pong", "receipt");
}

TEST(Receipts, AMemberAddedLaterHasReadNothingAndCountsFromItsJoin) {
    TestServer s;
    auto alice = signup(s.port(), "alice"), bob = signup(s.port(), "bob"), dave = signup(s.port(), "dave");
    std::string gid = create_group(s.port(), alice, "club", {&bob})["group_id"];
    std::string conv = "g:" + gid;
    auto a = connect_synced(s.port(), alice);
    for (int i = 0; i < 2; ++i) {
        a->send(group_send_frame(gid, "before dave " + std::to_string(i)));
        a->expect("sent");
    }
    ASSERT_EQ(http(s.port(), "POST", "/v1/groups/" + gid + "/members", {{"user_id", dave.user_id}}, alice.access_token).status, 204);
    auto r = get(s.port(), "/v1/conversations/" + conv + "/receipts", alice);
    bool found = false;
    for (const auto& m : r.body["members"]) {
        if (m["user_id"] != dave.user_id) continue;
        found = true;
        EXPECT_EQ(m["delivered_seq"], 0) << "dave has nothing yet";
        EXPECT_EQ(m["read_seq"], 0) << "dave has read nothing";
        EXPECT_EQ(m["joined_seq"], 4);
    }
    EXPECT_TRUE(found);
    auto unread = [&] { return get(s.port(), "/v1/conversations", dave).body["conversations"][0]["unread"]; };
    EXPECT_EQ(unread(), 0) << "nothing from before the join counts, nor the system message";

    // Dave reads his part: alice's messages before his join are not his to tick.
    auto d = connect_synced(s.port(), dave);
    d->send({{"type", "read"}, {"conversation_id", conv}, {"up_to_seq", 4}});
    EXPECT_TRUE(wait_receipt(*d, dave.user_id, "read", 4));
    a->send({{"type", "ping"}, {"id", "after"}});
    expect_none_before(*a, "pong", "receipt");
    a->close();
    a = connect(s.port(), alice);
    expect_none_before(*a, "sync_done", "receipt");

    // After the join it works as for everyone.
    a->send(group_send_frame(gid, "welcome dave"));
    EXPECT_EQ(a->expect("sent")["seq"], 5);
    EXPECT_EQ(unread(), 1);
    ASSERT_FALSE(next_message(*d, [](const json& m) { return m["seq"] == 5; }).is_null());
    EXPECT_TRUE(wait_receipt(*a, dave.user_id, "delivered", 5));
}

TEST(Receipts, BadReadFramesGetErrors) {
    TestServer s;
    auto d = Duo::start(s);
    d.a->send(send_frame(d.bob.user_id, "one"));
    auto conv = d.a->expect("sent")["conversation_id"].get<std::string>();
    ASSERT_FALSE(next_message(*d.b).is_null());
    auto expect_error = [&](const json& frame, const std::string& code) {
        d.b->send(frame);
        auto e = d.b->expect("error");
        EXPECT_EQ(e["code"], code) << frame.dump() << " -> " << e.dump();
        EXPECT_EQ(e["id"], frame["id"]);
    };
    expect_error({{"type", "read"}, {"id", "1"}, {"conversation_id", conv}, {"up_to_seq", 2}}, "invalid");
    expect_error({{"type", "read"}, {"id", "2"}, {"conversation_id", conv}, {"up_to_seq", 0}}, "invalid");
    expect_error({{"type", "read"}, {"id", "3"}, {"conversation_id", conv}, {"up_to_seq", "1"}}, "invalid");
    expect_error({{"type", "read"}, {"id", "4"}, {"conversation_id", "x:1"}, {"up_to_seq", 1}}, "invalid");
    expect_error({{"type", "read"}, {"id", "5"}, {"up_to_seq", 1}}, "invalid");
    expect_error({{"type", "read"}, {"id", "6"}, {"conversation_id", "d:1:2"}, {"up_to_seq", 1}}, "not_found");
    auto carol = signup(s.port(), "carol");
    auto c = connect_synced(s.port(), carol);
    c->send({{"type", "read"}, {"id", "7"}, {"conversation_id", conv}, {"up_to_seq", 1}});
    EXPECT_EQ(c->expect("error")["code"], "forbidden") << "someone else's chat";
    // And the socket still works.
    d.b->send({{"type", "read"}, {"id", "ok"}, {"conversation_id", conv}, {"up_to_seq", 1}});
    EXPECT_TRUE(wait_receipt(*d.a, d.bob.user_id, "read", 1));
}

}  // namespace
}  // namespace natter::test
