// The authorization matrix: every authenticated endpoint and the WebSocket,
// against every kind of bad credential, and against another user's valid
// credential. Later issues add their rows to kRows.
#include <gtest/gtest.h>

#include "chat/token_signer.hpp"
#include "core/crypto.hpp"
#include "ports/clock.hpp"
#include "support/test_server.hpp"

namespace natter::test {
namespace {

struct Row {
    const char* method;
    const char* path;  // {victim_device} and {victim} are filled in
    const char* body;
};

// Every HTTP call that needs an access token.
const Row kRows[] = {
    {"GET", "/v1/devices", ""},
    {"DELETE", "/v1/devices/{victim_device}", ""},
    {"DELETE", "/v1/sessions/current", ""},
    {"POST", "/v1/ws-tickets", ""},
    {"GET", "/v1/users/{victim}", ""},
    {"GET", "/v1/users?username=victim", ""},
    {"GET", "/v1/users/me", ""},
    {"PATCH", "/v1/users/me", R"({"display_name":"pwned"})"},
};

std::string fill(std::string s, const Account& victim) {
    auto put = [&](const std::string& key, const std::string& value) {
        if (auto at = s.find(key); at != std::string::npos) s.replace(at, key.size(), value);
    };
    put("{victim_device}", victim.device_id);
    put("{victim}", victim.user_id);
    return s;
}

std::int64_t now_s() { return SystemClock().now_ms() / 1000; }

// Credentials that must all be refused with 401.
std::vector<std::pair<std::string, std::string>> bad_credentials(const Account& a) {
    AccessClaims claims{std::stoull(a.user_id), std::stoull(a.device_id), 0, now_s() + 600};
    AccessClaims expired = claims;
    expired.expires_at_s = now_s() - 1;
    std::string none_header = base64url(R"({"alg":"none","typ":"JWT"})");
    std::string none_payload = base64url(R"({"iss":"natter","sub":")" + a.user_id + R"(","did":")" + a.device_id +
                                         R"(","gen":0,"exp":)" + std::to_string(now_s() + 600) + "}");
    auto forged = TokenSigner("some-other-key-0123456789-0123456789-xx").sign(claims, now_s());
    auto tampered = a.access_token;
    tampered[tampered.size() - 3] = tampered[tampered.size() - 3] == 'A' ? 'B' : 'A';
    return {
        {"none", ""},
        {"garbage", "not-a-token"},
        {"expired", TokenSigner(kTestKey).sign(expired, now_s() - 1000)},
        {"bad signature", forged},
        {"tampered", tampered},
        {"alg none", none_header + "." + none_payload + "."},
    };
}

class AuthzMatrix : public ::testing::Test {
protected:
    void SetUp() override {
        victim = signup(s.port(), "victim");
        other = signup(s.port(), "other");
    }
    TestServer s;
    Account victim, other;
};

TEST_F(AuthzMatrix, BadCredentialsAreRefusedEverywhere) {
    for (const auto& [kind, token] : bad_credentials(victim)) {
        for (const auto& row : kRows) {
            auto r = http(s.port(), row.method, fill(row.path, victim), *row.body ? json(std::string(row.body)) : json(), token);
            EXPECT_EQ(r.status, 401) << kind << ": " << row.method << " " << row.path << " -> " << r.raw;
            EXPECT_EQ(r.body["error"]["code"], "unauthorized") << kind << " " << row.path;
        }
        Refused refused;
        EXPECT_FALSE(WsClient::connect(s.port(), "user=" + victim.user_id, token, &refused)) << kind;
        EXPECT_EQ(refused.status, 401) << kind << ": WebSocket";
        EXPECT_FALSE(WsClient::connect(s.port(), "user=" + victim.user_id + "&ticket=" + victim.user_id + ".forged", "", &refused));
        EXPECT_EQ(refused.status, 401) << "forged ticket";
    }
    // The victim is untouched.
    EXPECT_EQ(http(s.port(), "GET", "/v1/devices", nullptr, victim.access_token).status, 200);
}

TEST_F(AuthzMatrix, AnotherUsersCredentialReachesOnlyItsOwnData) {
    for (const auto& row : kRows) {
        if (std::string(row.path) == "/v1/sessions/current") continue;  // checked last: it signs `other` out
        auto r = http(s.port(), row.method, fill(row.path, victim), *row.body ? json(std::string(row.body)) : json(),
                      other.access_token);
        std::string what = std::string(row.method) + " " + row.path + " -> " + r.raw;
        EXPECT_EQ(r.raw.find(victim.device_id), std::string::npos) << "leaked the victim's device: " << what;
        if (std::string(row.path) == "/v1/devices/{victim_device}") {
            EXPECT_EQ(r.status, 404) << what;
        }
    }
    // Public profiles are readable by any signed-in user; nothing of the victim changed.
    auto me = http(s.port(), "GET", "/v1/users/me", nullptr, victim.access_token);
    EXPECT_EQ(me.body["display_name"], "victim");
    auto devices = http(s.port(), "GET", "/v1/devices", nullptr, victim.access_token);
    ASSERT_EQ(devices.status, 200);
    ASSERT_EQ(devices.body["devices"].size(), 1u);

    // The WebSocket of another user: refused before the upgrade.
    Refused refused;
    EXPECT_FALSE(WsClient::connect(s.port(), "user=" + victim.user_id, other.access_token, &refused));
    EXPECT_EQ(refused.status, 403);
    auto ticket = http(s.port(), "POST", "/v1/ws-tickets", nullptr, other.access_token).body["ticket"].get<std::string>();
    EXPECT_FALSE(WsClient::connect(s.port(), "user=" + victim.user_id + "&ticket=" + ticket, "", &refused));
    EXPECT_EQ(refused.status, 403) << "a ticket is bound to its user";

    // Frames cannot speak for someone else: `from` is the socket's own device.
    auto ws = connect_synced(s.port(), other);
    auto frame = send_frame(victim.user_id, "hello");
    frame["from"] = {{"user", victim.user_id}, {"device", victim.device_id}};
    ws->send(frame);
    ws->expect("sent");
    std::vector<json> pushed;
    connect_synced(s.port(), victim, &pushed);
    ASSERT_EQ(pushed.size(), 1u);
    EXPECT_EQ(pushed[0]["from"]["user"], other.user_id);
    EXPECT_EQ(pushed[0]["from"]["device"], other.device_id);

    // Logging out with another user's token signs out that user only.
    EXPECT_EQ(http(s.port(), "DELETE", "/v1/sessions/current", nullptr, other.access_token).status, 204);
    EXPECT_EQ(http(s.port(), "GET", "/v1/devices", nullptr, victim.access_token).status, 200);
}

}  // namespace
}  // namespace natter::test
