// Silent refresh: ahead of expiry, after a 401 (HTTP and WebSocket), with a
// short server-side token lifetime, across two processes; and what happens
// when the refresh token itself is refused.
#include "e2e/e2e_fixture.hpp"

namespace natter::e2e {
namespace {

using Tokens = E2E;

TEST_F(Tokens, AnExpiringAccessTokenIsRefreshedBeforeTheCall) {
    auto before = sign_up("alice");
    auto p = before;
    p["access_expires_at"] = 0;  // long past
    write_profile("alice", p);

    auto r = natter("alice", {"devices"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto after = profile("alice");
    EXPECT_NE(after["refresh_token"], before["refresh_token"]);  // rotated, and stored
    EXPECT_GT(after["access_expires_at"].get<std::int64_t>(), before["access_expires_at"].get<std::int64_t>() - 1000);
    EXPECT_EQ(test::http(port(), "GET", "/v1/devices", nullptr, after["access_token"]).status, 200);
}

TEST_F(Tokens, ARejectedAccessTokenIsRefreshedAndTheCallRetried) {
    auto before = sign_up("alice");
    sign_up("bob");
    auto p = before;
    p["access_token"] = "not-a-token";  // looks fresh, the server says 401
    write_profile("alice", p);
    auto r = natter("alice", {"devices"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(profile("alice")["refresh_token"], before["refresh_token"]);

    // And at the WebSocket handshake.
    p = profile("alice");
    p["access_token"] = "not-a-token";
    write_profile("alice", p);
    r = natter("alice", {"send", "bob", "still here"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("seq=1"), std::string::npos) << r.out;
}

class ShortTokens : public E2E {
protected:
    ShortTokens() {
        tweak_ = [](Config& c) { c.limits.access_ttl_s = 30; };
    }
};

TEST_F(ShortTokens, EveryCommandRefreshesAndKeepsWorking) {
    sign_up("alice");
    sign_up("bob");
    std::string last = profile("alice")["refresh_token"];
    for (int i = 0; i < 3; ++i) {
        auto r = natter("alice", {"send", "bob", "m" + std::to_string(i)});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        auto now = profile("alice")["refresh_token"].get<std::string>();
        EXPECT_NE(now, last) << "30 s tokens are always within the 60 s margin";
        last = now;
    }
    auto r = natter("bob", {"listen", "--count", "3"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(json_lines(r.out).size(), 3u);
}

TEST_F(Tokens, TwoCommandsRefreshingAtOnceDoNotSpendOneTokenTwice) {
    sign_up("alice");
    auto p = profile("alice");
    p["access_expires_at"] = 0;
    write_profile("alice", p);
    std::vector<std::unique_ptr<CliProcess>> running;
    for (int i = 0; i < 4; ++i) running.push_back(start("alice", {"devices"}));
    for (auto& c : running) {
        c->close_stdin();
        EXPECT_EQ(c->wait(), 0) << c->describe();
    }
    // A spent refresh token presented again would have signed the device out.
    auto r = natter("alice", {"devices"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(Tokens, ARefusedRefreshTokenMeansLogInAgain) {
    sign_up("alice");
    auto p = profile("alice");
    p["access_expires_at"] = 0;
    p["refresh_token"] = p["user_id"].get<std::string>() + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    write_profile("alice", p);
    auto r = natter("alice", {"devices"});
    EXPECT_EQ(r.exit_code, 4);
    EXPECT_NE(r.err.find("unknown or expired refresh token"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("natter login alice"), std::string::npos) << r.err;
    EXPECT_FALSE(profile("alice").contains("refresh_token"));
    EXPECT_EQ(profile("alice")["device_id"], p["device_id"]);  // kept, to resume the device
}

}  // namespace
}  // namespace natter::e2e
