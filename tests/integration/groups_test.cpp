// Groups over real WebSockets and HTTP: creation, membership changes as
// system messages in the group's order, fan-out to members online and
// offline, the member limit, history from joined_seq, and a non-member
// refused everywhere.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <thread>

#include "support/test_server.hpp"

namespace natter::test {
namespace {

HttpResult get(std::uint16_t port, const std::string& path, const Account& a) {
    return http(port, "GET", path, nullptr, a.access_token);
}

// Reads frames until sync_done, acking; returns the messages in order.
std::vector<json> drained(WsClient& ws) {
    std::vector<json> out;
    EXPECT_TRUE(drain(ws, [&](const json& m) { out.push_back(m); }));
    return out;
}

// Every message the socket is pushed until one with `last_client_msg_id`
// (or a system message of `event_type` when given) arrives, acking all.
std::vector<json> read_until(WsClient& ws, const std::function<bool(const json&)>& last) {
    std::vector<json> out;
    for (;;) {
        auto m = next_message(ws);
        if (m.is_null()) {
            ADD_FAILURE() << "stopped after " << out.size() << " messages";
            return out;
        }
        out.push_back(m);
        if (last(m)) return out;
    }
}

TEST(Groups, CreateShowAndTheCreationMessage) {
    TestServer s;
    auto alice = signup(s.port(), "alice"), bob = signup(s.port(), "bob"), carol = signup(s.port(), "carol");
    auto b = connect_synced(s.port(), bob);
    auto created = create_group(s.port(), alice, "Weekend trip", {&bob, &carol, &alice, &bob});
    std::string group_id = created["group_id"];
    EXPECT_EQ(created["conversation_id"], "g:" + group_id);

    auto g = get(s.port(), "/v1/groups/" + group_id, carol);
    ASSERT_EQ(g.status, 200) << g.raw;
    EXPECT_EQ(g.body["name"], "Weekend trip");
    ASSERT_EQ(g.body["members"].size(), 3u) << "the creator once, bob once";
    std::map<std::string, std::string> roles;
    for (const auto& m : g.body["members"]) {
        roles[m["user_id"]] = m["role"];
        EXPECT_EQ(m["joined_seq"], 1);
    }
    EXPECT_EQ(roles[alice.user_id], "admin");
    EXPECT_EQ(roles[bob.user_id], "member");
    EXPECT_EQ(roles[carol.user_id], "member");

    // Bob, online, is pushed the system message; the creator's device gets it too.
    auto m = next_message(*b);
    ASSERT_FALSE(m.is_null());
    EXPECT_EQ(m["kind"], "system");
    EXPECT_EQ(m["seq"], 1);
    EXPECT_EQ(m["conversation_id"], "g:" + group_id);
    EXPECT_EQ(m["to"]["group"], group_id);
    EXPECT_EQ(m["event"]["type"], "created");
    EXPECT_EQ(m["event"]["by"], alice.user_id);
    EXPECT_EQ(m["event"]["name"], "Weekend trip");
    EXPECT_EQ(m["event"]["members"].size(), 3u);
    std::vector<json> pushed;
    connect_synced(s.port(), alice, &pushed);
    ASSERT_EQ(pushed.size(), 1u);
    EXPECT_EQ(pushed[0]["event"]["type"], "created");

    // It is in everyone's conversation list.
    auto list = get(s.port(), "/v1/conversations", carol);
    ASSERT_EQ(list.body["conversations"].size(), 1u);
    EXPECT_EQ(list.body["conversations"][0]["conversation_id"], "g:" + group_id);
    EXPECT_EQ(list.body["conversations"][0]["unread"], 0) << "system messages are not unread";
}

TEST(Groups, BadCreateRequestsGetClearErrors) {
    TestServer s([](Config& c) { c.limits.max_group_members = 3; });
    auto alice = signup(s.port(), "alice"), bob = signup(s.port(), "bob"), carol = signup(s.port(), "carol"),
         dave = signup(s.port(), "dave");
    auto post = [&](const json& body) { return http(s.port(), "POST", "/v1/groups", body, alice.access_token); };
    EXPECT_EQ(post({{"members", json::array()}}).status, 400) << "name is required";
    EXPECT_EQ(post({{"name", ""}, {"members", json::array()}}).status, 400);
    EXPECT_EQ(post({{"name", std::string(101, 'x')}, {"members", json::array()}}).status, 413) << "too_large";
    EXPECT_EQ(post({{"name", "x"}}).status, 400) << "members is required";
    EXPECT_EQ(post({{"name", "x"}, {"members", {1, 2}}}).status, 400) << "ids are strings";
    auto unknown = post({{"name", "x"}, {"members", {"12345"}}});
    EXPECT_EQ(unknown.status, 404) << unknown.raw;
    auto full = post({{"name", "x"}, {"members", {bob.user_id, carol.user_id, dave.user_id}}});
    EXPECT_EQ(full.status, 409) << full.raw;
    EXPECT_NE(full.body["error"]["message"].get<std::string>().find("at most 3"), std::string::npos) << full.raw;
    EXPECT_EQ(post({{"name", "x"}, {"members", {bob.user_id, carol.user_id}}}).status, 201);
    // A group of one (a note to self) is a group too.
    EXPECT_EQ(post({{"name", "solo"}, {"members", json::array()}}).status, 201);
    EXPECT_EQ(get(s.port(), "/v1/conversations", alice).body["conversations"].size(), 2u);
}

TEST(Groups, TwoHundredMembersOnlineAndOfflineEachGetEveryMessageOnceInOrder) {
    TestServer s;
    constexpr int kMembers = 200, kOnline = 100, kMessages = 20;
    std::vector<Account> users;
    for (int i = 0; i < kMembers; ++i) users.push_back(signup(s.port(), "member" + std::to_string(i)));
    std::vector<const Account*> others;
    for (int i = 1; i < kMembers; ++i) others.push_back(&users[i]);
    std::vector<std::unique_ptr<WsClient>> online;
    for (int i = 1; i <= kOnline; ++i) online.push_back(connect_synced(s.port(), users[i]));
    auto created = create_group(s.port(), users[0], "big", others);
    std::string group_id = created["group_id"];

    // One more is past the limit.
    auto extra = signup(s.port(), "extra");
    auto refused = http(s.port(), "POST", "/v1/groups/" + group_id + "/members", {{"user_id", extra.user_id}},
                        users[0].access_token);
    EXPECT_EQ(refused.status, 409) << refused.raw;

    auto sender = connect_synced(s.port(), users[0]);
    for (int i = 0; i < kMessages; ++i) sender->send(group_send_frame(group_id, "m" + std::to_string(i), std::to_string(i)));
    for (int i = 0; i < kMessages; ++i) EXPECT_EQ(sender->expect("sent")["seq"], i + 2);

    auto check = [&](const std::vector<json>& got, const std::string& who) {
        ASSERT_EQ(got.size(), std::size_t(kMessages + 1)) << who;
        for (std::size_t k = 0; k < got.size(); ++k) {
            EXPECT_EQ(got[k]["seq"], k + 1) << who;
            if (k > 0) {
                EXPECT_EQ(got[k]["body"], "m" + std::to_string(k - 1)) << who;
            }
        }
    };
    for (int i = 0; i < kOnline; ++i) {
        auto got = read_until(*online[i], [](const json& m) { return m["seq"] == kMessages + 1; });
        check(got, users[i + 1].username);
        // Nothing more (no duplicate) once acked: a ping comes back with no message before it.
        online[i]->send({{"type", "ping"}, {"id", "p"}});
        EXPECT_EQ(online[i]->expect("pong")["id"], "p") << users[i + 1].username;
    }
    for (int i = kOnline + 1; i < kMembers; ++i) {
        auto ws = connect(s.port(), users[i]);
        check(drained(*ws), users[i].username);
    }
}

TEST(Groups, MembersAddedAndRemovedDuringTrafficSeeExactlyTheirPart) {
    TestServer s;
    auto alice = signup(s.port(), "alice"), bob = signup(s.port(), "bob"), carol = signup(s.port(), "carol"),
         dave = signup(s.port(), "dave");
    auto b = connect_synced(s.port(), bob);
    auto c = connect_synced(s.port(), carol);
    auto created = create_group(s.port(), alice, "team", {&bob, &carol});
    std::string group_id = created["group_id"];
    auto a = connect_synced(s.port(), alice);

    // Alice keeps sending from a thread while the admin changes the members.
    constexpr int kMessages = 150;  // inside the send burst
    std::thread traffic([&] {
        for (int i = 0; i < kMessages; ++i) a->send(group_send_frame(group_id, "t" + std::to_string(i)));
    });
    auto added = http(s.port(), "POST", "/v1/groups/" + group_id + "/members", {{"user_id", dave.user_id}}, alice.access_token);
    EXPECT_EQ(added.status, 204) << added.raw;
    auto removed = http(s.port(), "DELETE", "/v1/groups/" + group_id + "/members/" + carol.user_id, nullptr, alice.access_token);
    EXPECT_EQ(removed.status, 204) << removed.raw;
    traffic.join();
    int sent = 0;
    while (sent < kMessages) {
        auto f = a->recv();
        ASSERT_TRUE(f) << "sent " << sent;
        if ((*f)["type"] == "sent") ++sent;
    }
    const int last_seq = kMessages + 3;  // creation, add, remove

    auto is_last = [&](const json& m) { return m["seq"] == last_seq; };
    auto bob_got = read_until(*b, is_last);
    ASSERT_EQ(bob_got.size(), std::size_t(last_seq)) << "bob is a member throughout";
    std::int64_t add_seq = 0, remove_seq = 0;
    for (std::size_t k = 0; k < bob_got.size(); ++k) {
        EXPECT_EQ(bob_got[k]["seq"], k + 1);
        if (bob_got[k]["kind"] != "system") continue;
        if (bob_got[k]["event"]["type"] == "added") {
            add_seq = bob_got[k]["seq"];
            EXPECT_EQ(bob_got[k]["event"]["user"], dave.user_id);
        }
        if (bob_got[k]["event"]["type"] == "removed") {
            remove_seq = bob_got[k]["seq"];
            EXPECT_EQ(bob_got[k]["event"]["user"], carol.user_id);
        }
    }
    ASSERT_GT(add_seq, 1);
    ASSERT_GT(remove_seq, add_seq);

    // Carol: everything up to and including her removal, nothing after.
    auto carol_got = read_until(*c, [&](const json& m) { return m["seq"] == remove_seq; });
    ASSERT_EQ(carol_got.size(), std::size_t(remove_seq));
    for (std::size_t k = 0; k < carol_got.size(); ++k) EXPECT_EQ(carol_got[k]["seq"], k + 1);
    c->send({{"type", "ping"}, {"id", "after"}});
    EXPECT_EQ(c->expect("pong")["id"], "after") << "no message after her removal";

    // Dave, offline: from his joined_seq (the "added" message) on.
    auto d = connect(s.port(), dave);
    auto dave_got = drained(*d);
    ASSERT_EQ(dave_got.size(), std::size_t(last_seq - add_seq + 1));
    for (std::size_t k = 0; k < dave_got.size(); ++k) EXPECT_EQ(dave_got[k]["seq"], add_seq + std::int64_t(k));

    // History follows membership: dave from joined_seq, carol not at all.
    auto page = get(s.port(), "/v1/conversations/g:" + group_id + "/messages?limit=200", dave);
    ASSERT_EQ(page.status, 200) << page.raw;
    auto msgs = page.body["messages"];
    EXPECT_EQ(msgs.back()["seq"], add_seq) << "nothing before dave joined";
    EXPECT_EQ(get(s.port(), "/v1/conversations/g:" + group_id + "/messages", carol).status, 403);
    auto g = get(s.port(), "/v1/groups/" + group_id, dave);
    ASSERT_EQ(g.status, 200);
    for (const auto& m : g.body["members"])
        if (m["user_id"] == dave.user_id) {
            EXPECT_EQ(m["joined_seq"], add_seq);
        }
}

TEST(Groups, AdminsManageMembersTheLastAdminLeavingHandsOver) {
    TestServer s;
    auto alice = signup(s.port(), "alice"), bob = signup(s.port(), "bob"), carol = signup(s.port(), "carol"),
         dave = signup(s.port(), "dave");
    std::string gid = create_group(s.port(), alice, "club", {&bob, &carol})["group_id"];
    auto members = [&](const Account& a) { return "/v1/groups/" + gid + "/members"; };
    // A member who is not an admin can neither add nor remove others.
    auto r = http(s.port(), "POST", members(bob), {{"user_id", dave.user_id}}, bob.access_token);
    EXPECT_EQ(r.status, 403) << r.raw;
    r = http(s.port(), "DELETE", members(bob) + "/" + carol.user_id, nullptr, bob.access_token);
    EXPECT_EQ(r.status, 403) << r.raw;
    // Adding twice, removing a non-member, an unknown user, a bad body.
    r = http(s.port(), "POST", members(alice), {{"user_id", bob.user_id}}, alice.access_token);
    EXPECT_EQ(r.status, 409) << r.raw;
    r = http(s.port(), "DELETE", members(alice) + "/" + dave.user_id, nullptr, alice.access_token);
    EXPECT_EQ(r.status, 404) << r.raw;
    r = http(s.port(), "POST", members(alice), {{"user_id", "999"}}, alice.access_token);
    EXPECT_EQ(r.status, 404) << r.raw;
    r = http(s.port(), "POST", members(alice), {{"user", dave.user_id}}, alice.access_token);
    EXPECT_EQ(r.status, 400) << r.raw;
    r = http(s.port(), "POST", "/v1/groups/123/members", {{"user_id", dave.user_id}}, alice.access_token);
    EXPECT_EQ(r.status, 404) << r.raw;

    // Carol leaves by herself.
    r = http(s.port(), "DELETE", members(carol) + "/" + carol.user_id, nullptr, carol.access_token);
    EXPECT_EQ(r.status, 204) << r.raw;
    // The only admin leaves: bob, the longest-standing member, becomes admin.
    r = http(s.port(), "DELETE", members(alice) + "/" + alice.user_id, nullptr, alice.access_token);
    EXPECT_EQ(r.status, 204) << r.raw;
    auto g = get(s.port(), "/v1/groups/" + gid, bob);
    ASSERT_EQ(g.body["members"].size(), 1u);
    EXPECT_EQ(g.body["members"][0]["user_id"], bob.user_id);
    EXPECT_EQ(g.body["members"][0]["role"], "admin");
    EXPECT_EQ(get(s.port(), "/v1/groups/" + gid, alice).status, 403) << "alice left";
    r = http(s.port(), "POST", members(bob), {{"user_id", dave.user_id}}, bob.access_token);
    EXPECT_EQ(r.status, 204) << "bob can add now: " << r.raw;

    std::vector<json> pushed;
    connect_synced(s.port(), bob, &pushed);
    std::vector<std::string> events;
    for (const auto& m : pushed) events.push_back(m["event"]["type"]);
    EXPECT_EQ(events, (std::vector<std::string>{"created", "left", "left", "added"}));
    ASSERT_EQ(pushed.size(), 4u);
    EXPECT_EQ(pushed[2]["event"]["user"], alice.user_id);
    EXPECT_EQ(pushed[2]["event"]["new_admin"], bob.user_id);
    EXPECT_FALSE(pushed[1]["event"].contains("new_admin")) << "carol was not an admin";
}

TEST(Groups, ChangesAreRateLimitedPerUser) {
    TestServer s([](Config& c) { c.limits.group_changes_per_min = 3; });
    auto alice = signup(s.port(), "alice"), bob = signup(s.port(), "bob"), carol = signup(s.port(), "carol");
    std::string gid = create_group(s.port(), alice, "g", {&bob})["group_id"];
    auto members = "/v1/groups/" + gid + "/members";
    EXPECT_EQ(http(s.port(), "POST", members, {{"user_id", carol.user_id}}, alice.access_token).status, 204);
    EXPECT_EQ(http(s.port(), "DELETE", members + "/" + carol.user_id, nullptr, alice.access_token).status, 204);
    auto r = http(s.port(), "POST", "/v1/groups", {{"name", "spam"}, {"members", json::array()}}, alice.access_token);
    EXPECT_EQ(r.status, 429) << r.raw;
    EXPECT_GT(r.body["error"]["retry_after_ms"].get<std::int64_t>(), 0);
    // Per user: bob may still leave.
    EXPECT_EQ(http(s.port(), "DELETE", members + "/" + bob.user_id, nullptr, bob.access_token).status, 204);
}

TEST(Groups, ANonMemberIsRefusedEverywhere) {
    TestServer s;
    auto alice = signup(s.port(), "alice"), bob = signup(s.port(), "bob"), mallory = signup(s.port(), "mallory");
    std::string gid = create_group(s.port(), alice, "private", {&bob})["group_id"];
    std::string conv = "g:" + gid;
    auto a = connect_synced(s.port(), alice);
    a->send(group_send_frame(gid, "secret plans"));
    a->expect("sent");

    auto expect_refused = [&](const HttpResult& r, const std::string& what) {
        EXPECT_EQ(r.status, 403) << what << ": " << r.raw;
        EXPECT_EQ(r.raw.find("secret"), std::string::npos) << what << " leaked the content";
        EXPECT_EQ(r.raw.find(bob.user_id), std::string::npos) << what << " leaked a member";
    };
    expect_refused(get(s.port(), "/v1/groups/" + gid, mallory), "member list");
    expect_refused(get(s.port(), "/v1/conversations/" + conv + "/messages", mallory), "history");
    expect_refused(get(s.port(), "/v1/conversations/" + conv + "/receipts", mallory), "receipts");
    expect_refused(http(s.port(), "POST", "/v1/groups/" + gid + "/members", {{"user_id", mallory.user_id}}, mallory.access_token),
                   "joining");
    expect_refused(http(s.port(), "DELETE", "/v1/groups/" + gid + "/members/" + bob.user_id, nullptr, mallory.access_token),
                   "removing");
    EXPECT_EQ(get(s.port(), "/v1/groups/424242", mallory).status, 404);

    auto m = connect_synced(s.port(), mallory);
    m->send(group_send_frame(gid, "let me in", "s1"));
    auto e = m->expect("error");
    EXPECT_EQ(e["id"], "s1");
    EXPECT_EQ(e["code"], "forbidden");
    m->send({{"type", "read"}, {"id", "r1"}, {"conversation_id", conv}, {"up_to_seq", 1}});
    e = m->expect("error");
    EXPECT_EQ(e["id"], "r1");
    EXPECT_EQ(e["code"], "forbidden");
    m->send({{"type", "typing"}, {"id", "t1"}, {"conversation_id", conv}, {"state", "start"}});
    e = m->expect("error");
    EXPECT_EQ(e["id"], "t1");
    EXPECT_EQ(e["code"], "forbidden");
    m->send({{"type", "presence"}, {"id", "p1"}, {"users", {alice.user_id}}});
    e = m->expect("error");
    EXPECT_EQ(e["id"], "p1");
    EXPECT_EQ(e["code"], "forbidden");
    m->send(group_send_frame("424242", "nobody home", "s2"));
    e = m->expect("error");
    EXPECT_EQ(e["code"], "not_found");

    // Nothing reached the members, and the group is as it was.
    std::vector<json> pushed;
    connect_synced(s.port(), bob, &pushed);
    ASSERT_EQ(pushed.size(), 2u);
    EXPECT_EQ(pushed[1]["body"], "secret plans");
    EXPECT_EQ(get(s.port(), "/v1/groups/" + gid, alice).body["members"].size(), 2u);
}

}  // namespace
}  // namespace natter::test
