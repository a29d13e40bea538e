// The account HTTP API of PROTOCOL.md, driven with HttpRequest structs over
// a real SQLite store, the local bus and a manual clock.
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>

#include "../common/temp_dir.hpp"
#include "adapters/localbus/local_bus.hpp"
#include "adapters/sqlite/sqlite_store.hpp"
#include "chat/accounts.hpp"
#include "core/limits.hpp"
#include "transport/http_api.hpp"

namespace {

using namespace natter;
using nlohmann::json;

constexpr std::int64_t kT0 = 1'750'000'000'000;
const std::string kPassword = "correct horse";

// What a client keeps after signing in.
struct Session {
    std::string user_id;
    std::string device_id;
    std::string access;
    std::string refresh;
};

class HttpApiTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::make_unique<testutil::TempDir>();
        store_ = std::make_unique<sqlite::SqliteStore>(sqlite::SqliteConfig{dir_->file("natter.db"), false});
        accounts_ = std::make_unique<AccountService>(store_->ports(), bus_, hasher_, signer_, ids_, clock_, limits_);
        history_ = std::make_unique<HistoryService>(store_->ports());
        api_ = std::make_unique<HttpApi>(*accounts_, *history_);
    }

    void TearDown() override {
        api_.reset();
        accounts_.reset();
        store_.reset();
        dir_.reset();
    }

    HttpResponse call(const std::string& method, const std::string& path, const std::string& body = "",
                      const std::string& token = "", const std::string& query = "") {
        return api_->handle(HttpRequest{method, path, query, token.empty() ? "" : "Bearer " + token, body, ""});
    }

    HttpResponse post(const std::string& path, const json& body) { return call("POST", path, body.dump()); }

    HttpResponse register_user(const std::string& username, const std::string& password = kPassword) {
        return post("/v1/accounts", {{"username", username}, {"password", password}});
    }

    HttpResponse login_raw(const std::string& username, const std::string& password,
                           const std::optional<std::string>& device_id = std::nullopt) {
        json body = {{"username", username}, {"password", password}, {"device_name", "phone"}};
        if (device_id) body["device_id"] = *device_id;
        return post("/v1/sessions", body);
    }

    Session login(const std::string& username, const std::optional<std::string>& device_id = std::nullopt) {
        auto r = login_raw(username, kPassword, device_id);
        EXPECT_EQ(r.status, 200) << r.body;
        auto j = json::parse(r.body);
        return Session{j.value("user_id", ""), j.value("device_id", ""), j.value("access_token", ""),
                       j.value("refresh_token", "")};
    }

    // Registers and signs in.
    Session new_user(const std::string& username) {
        EXPECT_EQ(register_user(username).status, 201);
        return login(username);
    }

    HttpResponse refresh(const std::string& refresh_token) {
        return post("/v1/tokens/refresh", {{"refresh_token", refresh_token}});
    }

    HttpResponse me(const Session& s) { return call("GET", "/v1/users/me", "", s.access); }

    std::unique_ptr<testutil::TempDir> dir_;
    std::unique_ptr<sqlite::SqliteStore> store_;
    localbus::LocalBus bus_;
    PasswordHasher hasher_{PasswordCost{1, 64, 1}};
    TokenSigner signer_{"0123456789012345678901234567890123456789"};
    IdGenerator ids_{1};
    ManualClock clock_{kT0};
    Limits limits_;
    std::unique_ptr<AccountService> accounts_;
    std::unique_ptr<HistoryService> history_;
    std::unique_ptr<HttpApi> api_;
};

json parse(const HttpResponse& r) { return json::parse(r.body, nullptr, false); }

// A session known only by its access token.
Session bearer(const json& access_token) { return Session{"", "", access_token.get<std::string>(), ""}; }

// Every error answer: the status, and {"error": {"code", "message"}}.
void expect_error(const HttpResponse& r, int status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.body;
    auto j = parse(r);
    ASSERT_TRUE(j.is_object()) << r.body;
    ASSERT_TRUE(j.contains("error")) << r.body;
    const auto& e = j["error"];
    ASSERT_TRUE(e.is_object()) << r.body;
    EXPECT_EQ(e.value("code", ""), code) << r.body;
    ASSERT_TRUE(e.contains("message") && e["message"].is_string()) << r.body;
    EXPECT_FALSE(e["message"].get<std::string>().empty());
}

bool is_id_string(const json& j) { return j.is_string() && parse_id(j.get<std::string>()).has_value(); }

// ---- registration

TEST_F(HttpApiTest, RegisterAnswers201WithTheNewUserId) {
    auto r = register_user("alice");
    ASSERT_EQ(r.status, 201) << r.body;
    auto j = parse(r);
    ASSERT_TRUE(is_id_string(j["user_id"])) << r.body;
    auto s = login("alice");
    EXPECT_EQ(s.user_id, j["user_id"].get<std::string>());
}

TEST_F(HttpApiTest, RegisterRejectsATakenUsername) {
    ASSERT_EQ(register_user("alice").status, 201);
    expect_error(register_user("alice", "another password"), 409, "conflict");
}

TEST_F(HttpApiTest, RegisterRejectsABadUsername) {
    for (const char* name : {"al", "Alice", "al ice", "al-ice", "", "abcdefghijabcdefghijabcdefghijabc"})
        expect_error(register_user(name), 400, "invalid");
}

TEST_F(HttpApiTest, RegisterRejectsAShortOrHugePassword) {
    expect_error(register_user("alice", "1234567"), 400, "invalid");
    expect_error(register_user("alice", std::string(1025, 'p')), 413, "too_large");
    EXPECT_EQ(register_user("alice", "12345678").status, 201);
}

TEST_F(HttpApiTest, RegisterRejectsABodyThatIsNotAnObjectWithStrings) {
    for (const char* body : {"", "not json", "[]", "\"alice\"", "42", "null", "{\"username\":\"alice\""})
        expect_error(call("POST", "/v1/accounts", body), 400, "invalid");
    expect_error(post("/v1/accounts", {{"username", "alice"}}), 400, "invalid");
    expect_error(post("/v1/accounts", {{"username", 7}, {"password", kPassword}}), 400, "invalid");
    expect_error(post("/v1/accounts", {{"username", "alice"}, {"password", {1, 2}}}), 400, "invalid");
}

// ---- sign-in

TEST_F(HttpApiTest, LoginAnswersWithIdsAndTokens) {
    ASSERT_EQ(register_user("alice").status, 201);
    auto r = login_raw("alice", kPassword);
    ASSERT_EQ(r.status, 200) << r.body;
    auto j = parse(r);
    EXPECT_TRUE(is_id_string(j["user_id"]));
    EXPECT_TRUE(is_id_string(j["device_id"]));
    ASSERT_TRUE(j["access_token"].is_string());
    EXPECT_FALSE(j["access_token"].get<std::string>().empty());
    ASSERT_TRUE(j["refresh_token"].is_string());
    EXPECT_FALSE(j["refresh_token"].get<std::string>().empty());
    ASSERT_TRUE(j["expires_in"].is_number_integer());
    EXPECT_EQ(j["expires_in"].get<std::int64_t>(), limits_.access_ttl_s);
}

TEST_F(HttpApiTest, LoginRejectsAWrongPasswordAndAnUnknownUserAlike) {
    ASSERT_EQ(register_user("alice").status, 201);
    auto wrong = login_raw("alice", "not the password");
    auto unknown = login_raw("nobody", kPassword);
    expect_error(wrong, 401, "unauthorized");
    expect_error(unknown, 401, "unauthorized");
    EXPECT_EQ(wrong.body, unknown.body);  // no telling which usernames exist
}

TEST_F(HttpApiTest, LoginPastTheDeviceLimitIsAConflict) {
    limits_.max_devices = 2;
    auto first = new_user("alice");
    login("alice");
    expect_error(login_raw("alice", kPassword), 409, "conflict");
    // Signing in again on a device the user already has is still fine.
    auto again = login("alice", first.device_id);
    EXPECT_EQ(again.device_id, first.device_id);
}

TEST_F(HttpApiTest, LoginWithADeviceIdReusesThatDevice) {
    auto first = new_user("alice");
    auto again = login("alice", first.device_id);
    EXPECT_EQ(again.device_id, first.device_id);
    auto r = call("GET", "/v1/devices", "", again.access);
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(parse(r)["devices"].size(), 1u);
}

TEST_F(HttpApiTest, LoginWithSomeoneElsesDeviceIdMakesANewDevice) {
    auto bob = new_user("bob");
    ASSERT_EQ(register_user("alice").status, 201);
    auto r = login_raw("alice", kPassword, bob.device_id);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_NE(parse(r)["device_id"], bob.device_id);
    expect_error(login_raw("alice", kPassword, "not-an-id"), 400, "invalid");
}

// ---- tokens

TEST_F(HttpApiTest, RefreshRotatesTheRefreshToken) {
    auto s = new_user("alice");
    auto r = refresh(s.refresh);
    ASSERT_EQ(r.status, 200) << r.body;
    auto j = parse(r);
    auto next = j.value("refresh_token", "");
    EXPECT_NE(next, s.refresh);
    EXPECT_EQ(j.value("expires_in", 0), limits_.access_ttl_s);
    EXPECT_EQ(me(bearer(j["access_token"])).status, 200);
    EXPECT_EQ(refresh(next).status, 200);
}

TEST_F(HttpApiTest, ReplayingASpentRefreshTokenSignsTheDeviceOut) {
    auto s = new_user("alice");
    auto r = refresh(s.refresh);
    ASSERT_EQ(r.status, 200);
    auto rotated = parse(r);
    Session current{s.user_id, s.device_id, rotated.value("access_token", ""), rotated.value("refresh_token", "")};
    ASSERT_EQ(me(current).status, 200);

    expect_error(refresh(s.refresh), 401, "unauthorized");  // the stolen, spent token
    expect_error(me(current), 401, "unauthorized");         // the device's live access token
    expect_error(refresh(current.refresh), 401, "unauthorized");
}

TEST_F(HttpApiTest, RefreshRejectsUnknownTokens) {
    new_user("alice");
    for (const char* t : {"", "garbage", "123.abc", "0.abc"}) expect_error(refresh(t), 401, "unauthorized");
}

TEST_F(HttpApiTest, AccessTokenExpiresAfter900Seconds) {
    auto s = new_user("alice");
    clock_.advance_ms(899'000);
    EXPECT_EQ(me(s).status, 200);
    clock_.advance_ms(2'000);
    expect_error(me(s), 401, "unauthorized");
    // The refresh token outlives it and gets a working access token.
    auto r = refresh(s.refresh);
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(me(bearer(parse(r)["access_token"])).status, 200);
}

TEST_F(HttpApiTest, MissingOrBadCredentialsAre401) {
    auto s = new_user("alice");
    expect_error(call("GET", "/v1/users/me"), 401, "unauthorized");
    expect_error(call("GET", "/v1/users/me", "", "garbage"), 401, "unauthorized");
    expect_error(api_->handle(HttpRequest{"GET", "/v1/users/me", "", "Basic " + s.access, "", ""}), 401, "unauthorized");
    expect_error(call("GET", "/v1/users/me", "", s.refresh), 401, "unauthorized");
}

TEST_F(HttpApiTest, LogoutRevokesTheDevicesTokens) {
    auto s = new_user("alice");
    auto r = call("DELETE", "/v1/sessions/current", "", s.access);
    EXPECT_EQ(r.status, 204);
    EXPECT_TRUE(r.body.empty());
    expect_error(me(s), 401, "unauthorized");
    expect_error(refresh(s.refresh), 401, "unauthorized");
}

TEST_F(HttpApiTest, LogoutLeavesTheUsersOtherDevicesSignedIn) {
    auto phone = new_user("alice");
    auto laptop = login("alice");
    ASSERT_EQ(call("DELETE", "/v1/sessions/current", "", phone.access).status, 204);
    EXPECT_EQ(me(laptop).status, 200);
}

// ---- devices

TEST_F(HttpApiTest, DevicesListsTheUsersDevices) {
    auto phone = new_user("alice");
    auto laptop = login("alice");
    new_user("bob");
    auto r = call("GET", "/v1/devices", "", phone.access);
    ASSERT_EQ(r.status, 200) << r.body;
    auto list = parse(r)["devices"];
    ASSERT_EQ(list.size(), 2u);
    std::set<std::string> ids;
    for (const auto& d : list) {
        ids.insert(d.value("device_id", ""));
        EXPECT_EQ(d.value("device_name", ""), "phone");
        EXPECT_TRUE(d["last_seen"].is_number_integer());
    }
    EXPECT_EQ(ids, (std::set<std::string>{phone.device_id, laptop.device_id}));
}

TEST_F(HttpApiTest, DeleteDeviceSignsItOutOnce) {
    auto phone = new_user("alice");
    auto laptop = login("alice");
    auto path = "/v1/devices/" + laptop.device_id;
    EXPECT_EQ(call("DELETE", path, "", phone.access).status, 204);
    expect_error(call("DELETE", path, "", phone.access), 404, "not_found");
    expect_error(me(laptop), 401, "unauthorized");
    expect_error(refresh(laptop.refresh), 401, "unauthorized");
    EXPECT_EQ(parse(call("GET", "/v1/devices", "", phone.access))["devices"].size(), 1u);
}

TEST_F(HttpApiTest, DeleteDeviceCannotTouchAnotherUsersDevice) {
    auto alice = new_user("alice");
    auto bob = new_user("bob");
    expect_error(call("DELETE", "/v1/devices/" + bob.device_id, "", alice.access), 404, "not_found");
    EXPECT_EQ(me(bob).status, 200);
    expect_error(call("DELETE", "/v1/devices/abc", "", alice.access), 404, "not_found");
}

// ---- WebSocket tickets

TEST_F(HttpApiTest, WsTicketAuthenticatesOnceOnly) {
    auto s = new_user("alice");
    auto r = call("POST", "/v1/ws-tickets", "", s.access);
    ASSERT_EQ(r.status, 201) << r.body;
    auto j = parse(r);
    EXPECT_EQ(j.value("expires_in", 0), limits_.ticket_ttl_s);
    auto ticket = j.value("ticket", "");
    auto who = accounts_->authenticate_ticket(ticket);
    ASSERT_TRUE(who.ok()) << who.error().message;
    EXPECT_EQ(id_string(who->user), s.user_id);
    EXPECT_EQ(id_string(who->device), s.device_id);
    auto again = accounts_->authenticate_ticket(ticket);
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().code, Code::unauthorized);
}

TEST_F(HttpApiTest, WsTicketExpires) {
    auto s = new_user("alice");
    auto ticket = parse(call("POST", "/v1/ws-tickets", "", s.access)).value("ticket", "");
    clock_.advance_ms((limits_.ticket_ttl_s + 1) * 1000);
    EXPECT_FALSE(accounts_->authenticate_ticket(ticket).ok());
}

// ---- users and profiles

void expect_profile(const HttpResponse& r, const Session& who, const std::string& username) {
    ASSERT_EQ(r.status, 200) << r.body;
    auto j = parse(r);
    EXPECT_EQ(j.value("user_id", ""), who.user_id);
    EXPECT_EQ(j.value("username", ""), username);
    EXPECT_EQ(j.value("display_name", ""), username);  // defaults to the username
    EXPECT_EQ(j.value("description", "?"), "");
    EXPECT_EQ(r.body.find("argon2"), std::string::npos) << "the password hash leaked";
    EXPECT_FALSE(j.contains("password_hash"));
}

TEST_F(HttpApiTest, GetUserById) {
    auto alice = new_user("alice");
    auto bob = new_user("bob");
    expect_profile(call("GET", "/v1/users/" + bob.user_id, "", alice.access), bob, "bob");
    expect_error(call("GET", "/v1/users/12345", "", alice.access), 404, "not_found");
    expect_error(call("GET", "/v1/users/bob", "", alice.access), 404, "not_found");
    expect_error(call("GET", "/v1/users/" + bob.user_id), 401, "unauthorized");
}

TEST_F(HttpApiTest, GetUserByUsername) {
    auto alice = new_user("alice");
    auto bob = new_user("bob");
    expect_profile(call("GET", "/v1/users", "", alice.access, "username=bob"), bob, "bob");
    expect_error(call("GET", "/v1/users", "", alice.access, "username=nobody"), 404, "not_found");
    expect_error(call("GET", "/v1/users", "", alice.access, ""), 400, "invalid");
}

TEST_F(HttpApiTest, PatchMeUpdatesTheProfile) {
    auto s = new_user("alice");
    auto r = call("PATCH", "/v1/users/me", json{{"display_name", "Alice A."}, {"description", "hi"}}.dump(), s.access);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(parse(r).value("display_name", ""), "Alice A.");
    auto after = parse(me(s));
    EXPECT_EQ(after.value("display_name", ""), "Alice A.");
    EXPECT_EQ(after.value("description", ""), "hi");
}

TEST_F(HttpApiTest, PatchMeCountsCharactersNotBytes) {
    auto s = new_user("alice");
    std::string fifty_accented;
    for (int i = 0; i < 50; ++i) fifty_accented += "\xC3\xA9";  // é, 2 bytes each
    EXPECT_EQ(call("PATCH", "/v1/users/me", json{{"display_name", fifty_accented}}.dump(), s.access).status, 200);
    EXPECT_EQ(call("PATCH", "/v1/users/me", json{{"description", std::string(50, 'd')}}.dump(), s.access).status, 200);
}

TEST_F(HttpApiTest, PatchMeRejectsA51CharacterDisplayName) {
    auto s = new_user("alice");
    auto r = call("PATCH", "/v1/users/me", json{{"display_name", std::string(51, 'x')}}.dump(), s.access);
    expect_error(r, 413, "too_large");
    EXPECT_EQ(parse(me(s)).value("display_name", ""), "alice");  // unchanged
    expect_error(call("PATCH", "/v1/users/me", json{{"description", std::string(51, 'x')}}.dump(), s.access), 413,
                 "too_large");
}

// ---- routing

TEST_F(HttpApiTest, UnknownPathsAre404) {
    auto s = new_user("alice");
    for (const char* path : {"/", "/v1", "/v1/nope", "/v1/accountsx", "/v2/accounts"}) {
        expect_error(call("GET", path), 404, "not_found");
        expect_error(call("GET", path, "", s.access), 404, "not_found");
    }
}

TEST_F(HttpApiTest, WrongMethodsAre405) {
    auto s = new_user("alice");
    expect_error(call("GET", "/v1/accounts"), 405, "invalid");
    expect_error(call("GET", "/v1/sessions"), 405, "invalid");
    expect_error(call("GET", "/v1/tokens/refresh"), 405, "invalid");
    expect_error(call("PUT", "/v1/devices", "", s.access), 405, "invalid");
    expect_error(call("GET", "/v1/ws-tickets", "", s.access), 405, "invalid");
    expect_error(call("POST", "/v1/users/me", "{}", s.access), 405, "invalid");
    expect_error(call("GET", "/v1/sessions/current", "", s.access), 405, "invalid");
}

}  // namespace
