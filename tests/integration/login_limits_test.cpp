// Password guessing: sign-ins are limited per username and per client
// address (behind a trusted proxy: the address it forwarded), each answered
// 429 rate_limited with the wait; loopback is exempt from the per-address
// limit by default (natter-bench, tests, a local proxy without
// trusted_proxies).
#include <gtest/gtest.h>

#include "support/test_server.hpp"

namespace natter::test {
namespace {

HttpResult sign_in(std::uint16_t port, const std::string& username, const std::string& password,
                   const std::string& forwarded_for = "") {
    std::vector<std::pair<std::string, std::string>> headers = {{"Content-Type", "application/json"}};
    if (!forwarded_for.empty()) headers.emplace_back("X-Forwarded-For", forwarded_for);
    return http_raw(port, "POST", "/v1/sessions", json{{"username", username}, {"password", password}}.dump(), headers);
}

void expect_limited(const HttpResult& r, const std::string& why, std::int64_t at_most_ms) {
    EXPECT_EQ(r.status, 429) << r.raw;
    EXPECT_EQ(r.body["error"]["code"], "rate_limited") << r.raw;
    EXPECT_NE(r.body["error"]["message"].get<std::string>().find(why), std::string::npos) << r.raw;
    auto wait = r.body["error"]["retry_after_ms"].get<std::int64_t>();
    EXPECT_GT(wait, 0);
    EXPECT_LE(wait, at_most_ms);
}

TEST(LoginLimits, GuessesAtOneUsernameWaitThenTheRightPasswordWorksAgain) {
    ManualClock clock(1'000'000);
    TestServer s("", [](Config& c) {
        c.limits.login_burst = 3;
        c.limits.login_rate_per_s = 0.2;
    }, &clock);
    signup(s.port(), "alice");  // its sign-in took one of the three
    signup(s.port(), "bob");
    for (int i = 0; i < 2; ++i) EXPECT_EQ(sign_in(s.port(), "alice", "guess" + std::to_string(i) + "xx").status, 401);
    // Out of attempts: even the right password waits, so guessing cannot tell.
    expect_limited(sign_in(s.port(), "alice", "password1"), "for this username", 5000);
    EXPECT_EQ(sign_in(s.port(), "bob", "password1").status, 200) << "another username is not held up";
    clock.advance_ms(5000);
    EXPECT_EQ(sign_in(s.port(), "alice", "password1").status, 200);
}

TEST(LoginLimits, OneAddressTryingManyUsernamesIsLimited) {
    ManualClock clock(1'000'000);
    TestServer s("", [](Config& c) {
        c.limits.per_address_exempt = "";
        c.limits.login_burst_per_address = 5;
        c.limits.login_rate_per_address_per_s = 1;
    }, &clock);
    // Registrations count as attempts too: an address cannot mint accounts without end.
    for (int i = 0; i < 5; ++i) {
        auto r = http(s.port(), "POST", "/v1/accounts", {{"username", "user" + std::to_string(i)}, {"password", "password1"}});
        EXPECT_EQ(r.status, 201) << r.raw;
    }
    expect_limited(http_raw(s.port(), "POST", "/v1/accounts", R"({"username":"user9","password":"password1"})",
                            {{"Content-Type", "application/json"}}),
                   "from this address", 1000);
    expect_limited(sign_in(s.port(), "user1", "password1"), "from this address", 1000);
    clock.advance_ms(1000);
    EXPECT_EQ(sign_in(s.port(), "user1", "password1").status, 200);
    expect_limited(sign_in(s.port(), "user2", "password1"), "from this address", 1000);
    // X-Forwarded-For from a client that is not a trusted proxy changes nothing.
    expect_limited(sign_in(s.port(), "user2", "password1", "198.51.100.77"), "from this address", 1000);
}

TEST(LoginLimits, BehindATrustedProxyEachForwardedClientHasItsOwnLimit) {
    ManualClock clock(1'000'000);
    TestServer s("", [](Config& c) {
        c.limits.per_address_exempt = "";
        c.trusted_proxies = "127.0.0.1";
        c.limits.login_burst_per_address = 2;
    }, &clock);
    for (int i = 0; i < 2; ++i)
        EXPECT_EQ(sign_in(s.port(), "nobody" + std::to_string(i), "password1", "198.51.100.1").status, 401);
    expect_limited(sign_in(s.port(), "nobody", "password1", "198.51.100.1"), "from this address", 1000);
    // The client cannot choose its key: only the proxy's own (last) entry counts.
    expect_limited(sign_in(s.port(), "nobody", "password1", "203.0.113.5, 198.51.100.1"), "from this address", 1000);
    EXPECT_EQ(sign_in(s.port(), "nobody", "password1", "198.51.100.2").status, 401) << "another client behind the proxy";
    EXPECT_EQ(sign_in(s.port(), "nobody", "password1").status, 401) << "the proxy's own requests: its own bucket";
}

TEST(LoginLimits, LoopbackIsExemptFromThePerAddressLimitByDefault) {
    TestServer s("", [](Config& c) { c.limits.login_burst_per_address = 3; });
    for (int i = 0; i < 10; ++i) {
        auto r = http(s.port(), "POST", "/v1/accounts", {{"username", "local" + std::to_string(i)}, {"password", "password1"}});
        EXPECT_EQ(r.status, 201) << r.raw;
    }
}

}  // namespace
}  // namespace natter::test
