// Credentials over the wire: tickets, logout, device removal and refresh
// replay all end the device's sockets.
#include <gtest/gtest.h>

#include "support/test_server.hpp"

namespace natter::test {
namespace {

TEST(Accounts, LogoutClosesTheSocketWith4001AndRevokesTheToken) {
    TestServer s;
    auto alice = signup(s.port(), "alice");
    auto ws = connect_synced(s.port(), alice);
    EXPECT_EQ(http(s.port(), "DELETE", "/v1/sessions/current", nullptr, alice.access_token).status, 204);
    EXPECT_EQ(ws->wait_close(), 4001);
    EXPECT_EQ(http(s.port(), "GET", "/v1/devices", nullptr, alice.access_token).status, 401);
    EXPECT_EQ(http(s.port(), "POST", "/v1/tokens/refresh", {{"refresh_token", alice.refresh_token}}).status, 401);
    // Logging in again with the same device id works, and the device keeps its inbox.
    auto again = login(s.port(), "alice", alice.device_id);
    EXPECT_EQ(again.device_id, alice.device_id);
    EXPECT_EQ(http(s.port(), "GET", "/v1/devices", nullptr, again.access_token).status, 200);
}

TEST(Accounts, RemovingADeviceClosesItsSocketAndDropsItsInbox) {
    TestServer s;
    auto alice = signup(s.port(), "alice");
    auto phone = login(s.port(), "alice");
    auto bob = signup(s.port(), "bob");
    auto ws = connect_synced(s.port(), phone);
    auto wb = connect_synced(s.port(), bob);
    wb->send(send_frame(alice.user_id, "queued for the laptop"));
    wb->expect("sent");
    ws->expect("message");
    auto r = http(s.port(), "DELETE", "/v1/devices/" + phone.device_id, nullptr, alice.access_token);
    EXPECT_EQ(r.status, 204) << r.raw;
    EXPECT_EQ(ws->wait_close(), 4001);
    EXPECT_EQ(http(s.port(), "GET", "/v1/devices", nullptr, phone.access_token).status, 401);
    auto list = http(s.port(), "GET", "/v1/devices", nullptr, alice.access_token);
    ASSERT_EQ(list.body["devices"].size(), 1u);
    EXPECT_EQ(list.body["devices"][0]["device_id"], alice.device_id);
    // The remaining device still has its own copy.
    std::vector<json> pushed;
    connect_synced(s.port(), alice, &pushed);
    ASSERT_EQ(pushed.size(), 1u);
    EXPECT_EQ(pushed[0]["body"], "queued for the laptop");
}

TEST(Accounts, ReplayingASpentRefreshTokenSignsTheDeviceOut) {
    TestServer s;
    auto alice = signup(s.port(), "alice");
    auto ws = connect_synced(s.port(), alice);
    auto first = http(s.port(), "POST", "/v1/tokens/refresh", {{"refresh_token", alice.refresh_token}});
    ASSERT_EQ(first.status, 200) << first.raw;
    EXPECT_NE(first.body["refresh_token"], alice.refresh_token);
    EXPECT_EQ(first.body["expires_in"], 900);
    auto fresh_access = first.body["access_token"].get<std::string>();
    EXPECT_EQ(http(s.port(), "GET", "/v1/devices", nullptr, fresh_access).status, 200);

    // An attacker (or a confused client) presents the spent token again.
    auto replay = http(s.port(), "POST", "/v1/tokens/refresh", {{"refresh_token", alice.refresh_token}});
    EXPECT_EQ(replay.status, 401);
    EXPECT_EQ(ws->wait_close(), 4001);
    EXPECT_EQ(http(s.port(), "GET", "/v1/devices", nullptr, fresh_access).status, 401);
    EXPECT_EQ(http(s.port(), "POST", "/v1/tokens/refresh", {{"refresh_token", first.body["refresh_token"]}}).status, 401);
}

TEST(Accounts, TicketsOpenOneWebSocketOnce) {
    TestServer s;
    auto alice = signup(s.port(), "alice");
    auto t = http(s.port(), "POST", "/v1/ws-tickets", nullptr, alice.access_token);
    ASSERT_EQ(t.status, 201) << t.raw;
    EXPECT_EQ(t.body["expires_in"], 30);
    auto ticket = t.body["ticket"].get<std::string>();
    auto ws = WsClient::connect(s.port(), "user=" + alice.user_id + "&ticket=" + ticket, "");
    ASSERT_TRUE(ws);
    ws->expect("sync_done");
    Refused refused;
    EXPECT_FALSE(WsClient::connect(s.port(), "user=" + alice.user_id + "&ticket=" + ticket, "", &refused));
    EXPECT_EQ(refused.status, 401);
}

TEST(Accounts, WebSocketRefusesMissingCredentialsAndAnotherUsersId) {
    TestServer s;
    auto alice = signup(s.port(), "alice");
    auto bob = signup(s.port(), "bob");
    Refused r;
    EXPECT_FALSE(WsClient::connect(s.port(), "user=" + alice.user_id, "", &r));
    EXPECT_EQ(r.status, 401);
    EXPECT_FALSE(WsClient::connect(s.port(), "user=" + alice.user_id, bob.access_token, &r));
    EXPECT_EQ(r.status, 403);
    EXPECT_FALSE(WsClient::connect(s.port(), "", bob.access_token, &r));
    EXPECT_EQ(r.status, 403);
}

TEST(Accounts, ANewConnectionOfTheSameDeviceReplacesTheOld) {
    TestServer s;
    auto alice = signup(s.port(), "alice");
    auto bob = signup(s.port(), "bob");
    auto old_ws = connect_synced(s.port(), alice);
    auto new_ws = connect_synced(s.port(), alice);
    EXPECT_EQ(old_ws->wait_close(), 4002);
    auto wb = connect_synced(s.port(), bob);
    wb->send(send_frame(alice.user_id, "still here"));
    EXPECT_EQ(new_ws->expect("message")["body"], "still here");
}

TEST(Accounts, DeviceLimitIsEnforcedAndRemovingOneMakesRoom) {
    TestServer s([](Config& c) { c.limits.max_devices = 2; });
    auto first = signup(s.port(), "alice");
    login(s.port(), "alice");
    auto third = http(s.port(), "POST", "/v1/sessions", {{"username", "alice"}, {"password", "password1"}});
    EXPECT_EQ(third.status, 409);
    EXPECT_EQ(third.body["error"]["code"], "conflict");
    auto list = http(s.port(), "GET", "/v1/devices", nullptr, first.access_token);
    ASSERT_EQ(list.body["devices"].size(), 2u);
    auto other = list.body["devices"][0]["device_id"] == first.device_id ? list.body["devices"][1] : list.body["devices"][0];
    EXPECT_EQ(http(s.port(), "DELETE", "/v1/devices/" + other["device_id"].get<std::string>(), nullptr, first.access_token).status, 204);
    EXPECT_EQ(http(s.port(), "POST", "/v1/sessions", {{"username", "alice"}, {"password", "password1"}}).status, 200);
}

}  // namespace
}  // namespace natter::test
