// The authorization matrix: every authenticated endpoint and the WebSocket,
// against every kind of bad credential, and against another user's valid
// credential. Later issues add their rows to kRows.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "chat/token_signer.hpp"
#include "core/crypto.hpp"
#include "ports/clock.hpp"
#include "support/test_server.hpp"

namespace natter::test {
namespace {

struct Row {
    const char* method;
    const char* path;  // {victim_device}, {victim}, {victim_group}, {other} are filled in, here and in the body
    const char* body;
    int other_status;  // what another user's valid credential gets; 0: its own data, checked below
};

// Every HTTP call that needs an access token.
const Row kRows[] = {
    {"GET", "/v1/devices", "", 0},
    {"DELETE", "/v1/devices/{victim_device}", "", 404},
    {"DELETE", "/v1/sessions/current", "", 0},
    {"DELETE", "/v1/accounts/me", R"({"password":"password1"})", 0},  // the victim's own password
    {"POST", "/v1/ws-tickets", "", 0},
    {"GET", "/v1/users/{victim}", "", 200},
    {"GET", "/v1/users?username=victim", "", 200},
    {"GET", "/v1/users/me", "", 0},
    {"PATCH", "/v1/users/me", R"({"display_name":"pwned"})", 0},
    {"PATCH", "/v1/users/me", R"({"avatar_media_id":"{victim_media}"})", 403},
    {"GET", "/v1/conversations", "", 0},
    {"GET", "/v1/conversations/g:{victim_group}/messages", "", 403},
    {"GET", "/v1/conversations/g:{victim_group}/receipts", "", 403},
    {"GET", "/v1/conversations/d:{victim}:{victim}/messages", "", 403},
    {"POST", "/v1/groups", R"({"name":"mine","members":[]})", 0},
    {"GET", "/v1/groups/{victim_group}", "", 403},
    {"POST", "/v1/groups/{victim_group}/members", R"({"user_id":"{other}"})", 403},
    {"DELETE", "/v1/groups/{victim_group}/members/{victim}", "", 403},
    {"POST", "/v1/media", R"({"mime":"image/png","size":10})", 0},
    {"GET", "/v1/media/{victim_media}", "", 403},
};

struct Names {
    std::string victim, victim_device, victim_group, other, victim_media;
};

std::string fill(std::string s, const Names& n) {
    auto put = [&](const std::string& key, const std::string& value) {
        for (auto at = s.find(key); at != std::string::npos; at = s.find(key)) s.replace(at, key.size(), value);
    };
    put("{victim_device}", n.victim_device);
    put("{victim_group}", n.victim_group);
    put("{victim_media}", n.victim_media);
    put("{victim}", n.victim);
    put("{other}", n.other);
    return s;
}

std::int64_t now_s() { return SystemClock().now_ms() / 1000; }

// A token with natterd's own key but another HMAC: the algorithm is pinned to
// HS256, so a right key does not make a wrong algorithm good.
std::string hs512_token(const std::string& payload_json) {
    std::string input = base64url(R"({"alg":"HS512","typ":"JWT"})") + "." + base64url(payload_json);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha512(), kTestKey.data(), int(kTestKey.size()), reinterpret_cast<const unsigned char*>(input.data()),
         input.size(), mac, &len);
    return input + "." + base64url(std::string_view(reinterpret_cast<const char*>(mac), len));
}

// Credentials that must all be refused with 401. `signed_out` and `removed`:
// devices of the same user, signed out and removed, their access tokens not
// yet expired.
std::vector<std::pair<std::string, std::string>> bad_credentials(const Account& a, const Account& signed_out,
                                                                 const Account& removed) {
    AccessClaims claims{std::stoull(a.user_id), std::stoull(a.device_id), 0, now_s() + 600};
    AccessClaims expired = claims;
    expired.expires_at_s = now_s() - 1;
    std::string none_header = base64url(R"({"alg":"none","typ":"JWT"})");
    std::string payload_json = R"({"iss":"natter","sub":")" + a.user_id + R"(","did":")" + a.device_id +
                               R"(","gen":0,"exp":)" + std::to_string(now_s() + 600) + "}";
    std::string none_payload = base64url(payload_json);
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
        {"alg HS512", hs512_token(payload_json)},
        {"signed-out device", signed_out.access_token},
        {"removed device", removed.access_token},
        {"refresh token", a.refresh_token},
    };
}

class AuthzMatrix : public ::testing::Test {
protected:
    void SetUp() override {
        victim = signup(s.port(), "victim");
        signed_out = login(s.port(), "victim");
        EXPECT_EQ(http(s.port(), "DELETE", "/v1/sessions/current", nullptr, signed_out.access_token).status, 204);
        removed = login(s.port(), "victim");
        EXPECT_EQ(http(s.port(), "DELETE", "/v1/devices/" + removed.device_id, nullptr, victim.access_token).status, 204);
        other = signup(s.port(), "other");
        auto group = create_group(s.port(), victim, "victim's", {});
        auto media = http(s.port(), "POST", "/v1/media", {{"mime", "image/png"}, {"size", 10}}, victim.access_token);
        names = Names{victim.user_id, victim.device_id, group["group_id"], other.user_id, media.body["media_id"]};
        auto ws = connect_synced(s.port(), victim);
        ws->send(send_frame(victim.user_id, "note to self: the secret"));
        ws->expect("sent");
    }
    json body_of(const Row& row) { return *row.body ? json::parse(fill(row.body, names)) : json(); }
    TestServer s;
    Account victim, other, signed_out, removed;
    Names names;
};

TEST_F(AuthzMatrix, BadCredentialsAreRefusedEverywhere) {
    for (const auto& [kind, token] : bad_credentials(victim, signed_out, removed)) {
        for (const auto& row : kRows) {
            auto r = http(s.port(), row.method, fill(row.path, names), body_of(row), token);
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
        if (std::string(row.path) == "/v1/accounts/me") continue;  // it would delete `other`: its own data
        auto r = http(s.port(), row.method, fill(row.path, names), body_of(row), other.access_token);
        std::string what = std::string(row.method) + " " + row.path + " -> " + r.raw;
        EXPECT_EQ(r.raw.find(victim.device_id), std::string::npos) << "leaked the victim's device: " << what;
        EXPECT_EQ(r.raw.find("secret"), std::string::npos) << "leaked the victim's message: " << what;
        if (row.other_status >= 400) {  // the victim's resource: no signed URL either
            EXPECT_EQ(r.raw.find("/v1/blobs/"), std::string::npos) << "leaked a signed URL: " << what;
        }
        if (row.other_status) {
            EXPECT_EQ(r.status, row.other_status) << what;
        }
        if (row.other_status == 403) {
            EXPECT_EQ(r.body["error"]["code"], "forbidden") << what;
        }
    }
    // The victim's group is as it was.
    auto g = http(s.port(), "GET", "/v1/groups/" + names.victim_group, nullptr, victim.access_token);
    ASSERT_EQ(g.status, 200);
    ASSERT_EQ(g.body["members"].size(), 1u);
    EXPECT_EQ(g.body["members"][0]["user_id"], victim.user_id);
    // Public profiles are readable by any signed-in user; nothing of the victim changed.
    auto me = http(s.port(), "GET", "/v1/users/me", nullptr, victim.access_token);
    EXPECT_EQ(me.body["display_name"], "victim");
    auto devices = http(s.port(), "GET", "/v1/devices", nullptr, victim.access_token);
    ASSERT_EQ(devices.status, 200);
    ASSERT_EQ(devices.body["devices"].size(), 2u) << "the victim's first device and the signed-out one";

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
    ASSERT_EQ(pushed.size(), 2u) << "the group's creation, then other's message";
    EXPECT_EQ(pushed[1]["from"]["user"], other.user_id);
    EXPECT_EQ(pushed[1]["from"]["device"], other.device_id);

    // Logging out with another user's token signs out that user only.
    EXPECT_EQ(http(s.port(), "DELETE", "/v1/sessions/current", nullptr, other.access_token).status, 204);
    EXPECT_EQ(http(s.port(), "GET", "/v1/devices", nullptr, victim.access_token).status, 200);
}

// Every frame that names a conversation or a user, from a socket of
// someone outside: refused with forbidden, nothing of the victim's echoed.
TEST_F(AuthzMatrix, AnotherUsersFramesCannotTouchTheVictimsConversations) {
    auto ws = connect_synced(s.port(), other);
    const std::string group_conv = "g:" + names.victim_group, self_conv = "d:" + victim.user_id + ":" + victim.user_id;
    const json frames[] = {
        group_send_frame(names.victim_group, "intrusion", "f1"),
        {{"type", "read"}, {"id", "f2"}, {"conversation_id", group_conv}, {"up_to_seq", 1}},
        {{"type", "read"}, {"id", "f3"}, {"conversation_id", self_conv}, {"up_to_seq", 1}},
        {{"type", "typing"}, {"id", "f4"}, {"conversation_id", group_conv}, {"state", "start"}},
        {{"type", "typing"}, {"id", "f5"}, {"conversation_id", self_conv}, {"state", "start"}},
        {{"type", "presence"}, {"id", "f6"}, {"users", {victim.user_id}}},
        // The victim's upload, attached to the outsider's own message to themself.
        {{"type", "send"}, {"id", "f7"}, {"client_msg_id", random_uuid()}, {"to", {{"user", other.user_id}}},
         {"attachment", {{"media_id", names.victim_media}, {"mime", "image/png"}, {"size", 10}}}},
    };
    for (const auto& f : frames) {
        ws->send(f);
        auto e = ws->expect("error");
        EXPECT_EQ(e["id"], f["id"]) << f.dump();
        EXPECT_EQ(e["code"], "forbidden") << f.dump() << " -> " << e.dump();
        EXPECT_EQ(e.dump().find("secret"), std::string::npos);
    }
    auto r = http(s.port(), "GET", "/v1/conversations/" + group_conv + "/receipts", nullptr, victim.access_token);
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.body["members"].size(), 1u) << "no watermark was made for the outsider";
}

}  // namespace
}  // namespace natter::test
