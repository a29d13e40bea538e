// Account deletion over the wire (DELETE /v1/accounts/me): the password is
// checked and rate limited like a sign-in; afterwards the account's devices,
// tokens, sockets, media, profile, username and group memberships are gone,
// while its messages stay in the other side's history under its id.
#include <gtest/gtest.h>

#include "support/test_server.hpp"

namespace natter::test {
namespace {

HttpResult get(std::uint16_t port, const std::string& target, const Account& who) {
    return http(port, "GET", target, nullptr, who.access_token);
}

HttpResult delete_account(std::uint16_t port, const Account& who, const std::string& password) {
    return http(port, "DELETE", "/v1/accounts/me", {{"password", password}}, who.access_token);
}

std::string conv_of(const Account& x, const Account& y) {
    auto a = std::stoull(x.user_id), b = std::stoull(y.user_id);
    return "d:" + std::to_string(std::min(a, b)) + ":" + std::to_string(std::max(a, b));
}

// Inbox rows waiting over all devices (the natter_inbox_depth gauge).
int inbox_depth(std::uint16_t port) {
    auto text = http(port, "GET", "/metrics").raw;
    const std::string sample = "natter_inbox_depth ";
    auto at = text.find("\n" + sample);
    if (at == std::string::npos) {
        ADD_FAILURE() << "no natter_inbox_depth in /metrics";
        return -1;
    }
    return std::stoi(text.substr(at + 1 + sample.size()));
}

std::string png_bytes(std::size_t n) {
    std::string b = "\x89PNG\r\n\x1A\n";
    for (std::size_t i = b.size(); i < n; ++i) b += char(i * 31 % 251);
    return b;
}

// Announces and uploads a PNG; the media id.
std::string upload_png(std::uint16_t port, const Account& a, const std::string& bytes) {
    auto m = http(port, "POST", "/v1/media", {{"mime", "image/png"}, {"size", bytes.size()}}, a.access_token);
    EXPECT_EQ(m.status, 201) << m.raw;
    std::vector<std::pair<std::string, std::string>> headers;
    for (auto& [k, v] : m.body["upload"]["headers"].items()) headers.emplace_back(k, v.get<std::string>());
    auto put = http_raw(port, m.body["upload"]["method"], m.body["upload"]["url"], bytes, headers);
    EXPECT_EQ(put.status, 200) << put.raw;
    return m.body["media_id"];
}

TEST(AccountDeletion, AWrongOrMissingPasswordIsRefusedAndDeletesNothing) {
    TestServer s;
    auto alice = signup(s.port(), "alice");
    auto bob = signup(s.port(), "bob");
    auto ws = connect_synced(s.port(), alice);
    auto r = delete_account(s.port(), alice, "not-her-password");
    EXPECT_EQ(r.status, 401) << r.raw;
    EXPECT_EQ(r.body["error"]["code"], "unauthorized");
    r = http(s.port(), "DELETE", "/v1/accounts/me", json::object(), alice.access_token);
    EXPECT_EQ(r.status, 400) << r.raw;
    r = http(s.port(), "DELETE", "/v1/accounts/me", {{"password", 12345678}}, alice.access_token);
    EXPECT_EQ(r.status, 400) << r.raw;
    EXPECT_EQ(get(s.port(), "/v1/accounts/me", alice).status, 405);

    // Everything still works: the token, the socket, the name, a new sign-in.
    EXPECT_EQ(get(s.port(), "/v1/devices", alice).status, 200);
    auto wb = connect_synced(s.port(), bob);
    wb->send(send_frame(alice.user_id, "still there?"));
    wb->expect("sent");
    EXPECT_EQ(next_message(*ws)["body"], "still there?");
    EXPECT_EQ(get(s.port(), "/v1/users?username=alice", bob).body["user_id"], alice.user_id);
    login(s.port(), "alice");
}

TEST(AccountDeletion, WrongPasswordsCountAgainstTheSignInLimitOfTheUsername) {
    TestServer s([](Config& c) {
        c.limits.login_burst = 3;
        c.limits.login_rate_per_s = 0.001;
    });
    auto alice = signup(s.port(), "alice");  // its sign-in takes one
    for (int i = 0; i < 2; ++i) EXPECT_EQ(delete_account(s.port(), alice, "guess" + std::to_string(i)).status, 401);
    auto limited = delete_account(s.port(), alice, "guess-again");
    EXPECT_EQ(limited.status, 429) << limited.raw;
    EXPECT_GT(limited.body["error"]["retry_after_ms"].get<std::int64_t>(), 0);
    // The same bucket as sign-in: neither the right password nor a login get through now.
    EXPECT_EQ(delete_account(s.port(), alice, "password1").status, 429);
    EXPECT_EQ(http(s.port(), "POST", "/v1/sessions", {{"username", "alice"}, {"password", "password1"}}).status, 429);
    EXPECT_EQ(get(s.port(), "/v1/users/me", alice).status, 200) << "nothing was deleted";
}

TEST(AccountDeletion, EverythingOfTheAccountGoesButItsMessagesInOthersHistory) {
    TestServer s;
    auto alice = signup(s.port(), "alice");
    auto phone = login(s.port(), "alice");
    auto bob = signup(s.port(), "bob");
    auto carol = signup(s.port(), "carol");
    auto wa = connect_synced(s.port(), alice);
    auto wp = connect_synced(s.port(), phone);
    auto wb = connect_synced(s.port(), bob);

    // A profile with an avatar, a photo and a text to bob, a group she runs alone.
    auto bytes = png_bytes(5000);
    auto media_id = upload_png(s.port(), alice, bytes);
    auto r = http(s.port(), "PATCH", "/v1/users/me",
                  {{"description", "likes tea"}, {"avatar_media_id", media_id}}, alice.access_token);
    ASSERT_EQ(r.status, 200) << r.raw;
    json photo = send_frame(bob.user_id, "", "", "img");
    photo.erase("body");
    photo["attachment"] = {{"media_id", media_id}, {"mime", "image/png"}, {"size", bytes.size()}};
    wa->send(photo);
    wa->expect("sent");
    wa->send(send_frame(bob.user_id, "goodbye, bob"));
    wa->expect("sent");
    EXPECT_EQ(next_message(*wb)["kind"], "image");
    EXPECT_EQ(next_message(*wb)["body"], "goodbye, bob");
    auto dl = get(s.port(), "/v1/media/" + media_id, bob);
    ASSERT_EQ(dl.status, 200) << dl.raw;
    std::string url = dl.body["download_url"];
    ASSERT_EQ(http_raw(s.port(), "GET", url).raw, bytes);
    std::string gid = create_group(s.port(), alice, "club", {&bob, &carol})["group_id"];
    EXPECT_EQ(next_message(*wb)["event"]["type"], "created");

    r = delete_account(s.port(), alice, "password1");
    ASSERT_EQ(r.status, 204) << r.raw;

    // Every socket closed as revoked; no token or password works any more.
    EXPECT_EQ(wa->wait_close(), 4001);
    EXPECT_EQ(wp->wait_close(), 4001);
    for (const auto* a : {&alice, &phone}) {
        EXPECT_EQ(get(s.port(), "/v1/devices", *a).status, 401);
        EXPECT_EQ(http(s.port(), "POST", "/v1/tokens/refresh", {{"refresh_token", a->refresh_token}}).status, 401);
    }
    EXPECT_EQ(http(s.port(), "POST", "/v1/sessions", {{"username", "alice"}, {"password", "password1"}}).status, 401);

    // Bob's history keeps her messages, from her id; her id is a tombstone.
    auto history = get(s.port(), "/v1/conversations/" + conv_of(alice, bob) + "/messages", bob);
    ASSERT_EQ(history.status, 200) << history.raw;
    ASSERT_EQ(history.body["messages"].size(), 2u);
    for (const auto& m : history.body["messages"]) EXPECT_EQ(m["from"]["user"], alice.user_id);
    EXPECT_EQ(history.body["messages"][0]["body"], "goodbye, bob");
    auto tomb = get(s.port(), "/v1/users/" + alice.user_id, bob);
    ASSERT_EQ(tomb.status, 200) << tomb.raw;
    EXPECT_EQ(tomb.body, (json{{"user_id", alice.user_id}, {"deleted", true}}));
    EXPECT_EQ(get(s.port(), "/v1/users/424242", bob).status, 404) << "an id that never was is not a tombstone";
    EXPECT_EQ(get(s.port(), "/v1/users?username=alice", bob).status, 404);

    // The photo and avatar are gone, metadata and bytes.
    EXPECT_EQ(get(s.port(), "/v1/media/" + media_id, bob).status, 404);
    EXPECT_NE(http_raw(s.port(), "GET", url).status, 200);

    // She left the group as a member leaving: bob (longest standing) runs it.
    auto left = next_message(*wb);
    EXPECT_EQ(left["event"]["type"], "left");
    EXPECT_EQ(left["event"]["user"], alice.user_id);
    EXPECT_EQ(left["event"]["new_admin"], bob.user_id);
    auto g = get(s.port(), "/v1/groups/" + gid, bob);
    ASSERT_EQ(g.body["members"].size(), 2u);
    for (const auto& m : g.body["members"]) EXPECT_NE(m["user_id"], alice.user_id);

    // Nobody can write to her or add her back; the name is free for someone new.
    wb->send(send_frame(alice.user_id, "hello?"));
    EXPECT_EQ(wb->expect("error")["code"], "not_found");
    r = http(s.port(), "POST", "/v1/groups/" + gid + "/members", {{"user_id", alice.user_id}}, bob.access_token);
    EXPECT_EQ(r.status, 404) << r.raw;
    auto again = signup(s.port(), "alice");
    EXPECT_NE(again.user_id, alice.user_id);
    EXPECT_EQ(get(s.port(), "/v1/users?username=alice", bob).body["user_id"], again.user_id);
    EXPECT_EQ(get(s.port(), "/v1/users/" + alice.user_id, bob).body["deleted"], true);
}

TEST(AccountDeletion, InboxRowsWaitingForTheDeletedDevicesGo) {
    TestServer s;
    auto alice = signup(s.port(), "alice");
    auto bob = signup(s.port(), "bob");
    auto wb = connect_synced(s.port(), bob);
    for (int i = 0; i < 3; ++i) {
        wb->send(send_frame(alice.user_id, "unread " + std::to_string(i)));
        wb->expect("sent");
    }
    EXPECT_EQ(inbox_depth(s.port()), 3);
    ASSERT_EQ(delete_account(s.port(), alice, "password1").status, 204);
    EXPECT_EQ(inbox_depth(s.port()), 0);
}

}  // namespace
}  // namespace natter::test
