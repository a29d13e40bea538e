#include "support/test_server.hpp"

#include <gtest/gtest.h>

#include <filesystem>

namespace natter::test {

TempDir::TempDir() {
    char tmpl[] = "/tmp/natter-test-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

Config test_config(const std::string& data_dir) {
    Config c;
    c.port = 0;
    c.data_dir = data_dir;
    c.io_threads = 2;
    c.blocking_threads = 4;
    c.sqlite_sync_full = false;
    c.node_id = 1;
    c.token_key = kTestKey;
    c.password_cost = PasswordCost{1, 64, 1};
    c.sweeper = false;  // tests sweep with App::sweep_now, on their own clock
    return c;
}

TestServer::TestServer(const std::string& data_dir, const std::function<void(Config&)>& tweak, const Clock* clock) {
    if (data_dir.empty()) owned_.emplace();
    dir_ = data_dir.empty() ? owned_->path() : data_dir;
    auto c = test_config(dir_);
    if (tweak) tweak(c);
    app_ = std::make_unique<App>(c, clock);
    port_ = app_->start();
}

TestServer::~TestServer() { app_.reset(); }

Account signup(std::uint16_t port, const std::string& username) {
    auto r = http(port, "POST", "/v1/accounts", {{"username", username}, {"password", "password1"}});
    EXPECT_EQ(r.status, 201) << r.raw;
    return login(port, username);
}

Account login(std::uint16_t port, const std::string& username, const std::string& device_id) {
    json body = {{"username", username}, {"password", "password1"}};
    if (!device_id.empty()) body["device_id"] = device_id;
    auto r = http(port, "POST", "/v1/sessions", body);
    EXPECT_EQ(r.status, 200) << r.raw;
    Account a;
    a.username = username;
    if (r.status != 200) return a;
    a.user_id = r.body["user_id"];
    a.device_id = r.body["device_id"];
    a.access_token = r.body["access_token"];
    a.refresh_token = r.body["refresh_token"];
    return a;
}

std::unique_ptr<WsClient> connect(std::uint16_t port, const Account& a) {
    auto ws = WsClient::connect(port, "user=" + a.user_id, a.access_token);
    EXPECT_TRUE(ws) << "WebSocket refused for " << a.username;
    return ws;
}

std::unique_ptr<WsClient> connect_synced(std::uint16_t port, const Account& a, std::vector<json>* pushed) {
    auto ws = connect(port, a);
    if (!ws) return ws;
    for (;;) {
        auto f = ws->recv();
        if (!f) {
            ADD_FAILURE() << "no sync_done for " << a.username;
            return ws;
        }
        if ((*f)["type"] == "sync_done") return ws;
        if (pushed) pushed->push_back(*f);
    }
}

Duo Duo::start(TestServer& s) {
    Duo d;
    d.alice = signup(s.port(), "alice");
    d.bob = signup(s.port(), "bob");
    d.a = connect_synced(s.port(), d.alice);
    d.b = connect_synced(s.port(), d.bob);
    return d;
}

bool drain(WsClient& ws, const std::function<void(const json&)>& on_message) {
    json batch = json::array();
    auto flush = [&] {
        if (!batch.empty()) ws.send({{"type", "ack"}, {"message_ids", batch}});
        batch = json::array();
    };
    for (;;) {
        auto f = ws.recv();
        if (!f) return false;
        if ((*f)["type"] == "sync_done") {
            flush();
            return true;
        }
        if ((*f)["type"] != "message") continue;
        on_message(*f);
        batch.push_back((*f)["message_id"]);
        if (batch.size() >= 64) flush();
    }
}

json send_frame(const std::string& to_user, const std::string& body, const std::string& client_msg_id,
                const std::string& request_id) {
    json f = {{"type", "send"},
              {"client_msg_id", client_msg_id.empty() ? new_uuid() : client_msg_id},
              {"to", {{"user", to_user}}},
              {"body", body}};
    if (!request_id.empty()) f["id"] = request_id;
    return f;
}

json group_send_frame(const std::string& group_id, const std::string& body, const std::string& request_id) {
    json f = {{"type", "send"}, {"client_msg_id", new_uuid()}, {"to", {{"group", group_id}}}, {"body", body}};
    if (!request_id.empty()) f["id"] = request_id;
    return f;
}

json create_group(std::uint16_t port, const Account& owner, const std::string& name,
                  const std::vector<const Account*>& members) {
    json ids = json::array();
    for (const auto* m : members) ids.push_back(m->user_id);
    auto r = http(port, "POST", "/v1/groups", {{"name", name}, {"members", ids}}, owner.access_token);
    EXPECT_EQ(r.status, 201) << r.raw;
    return r.body;
}

void expect_none_before(WsClient& ws, const std::string& until, const std::string& unwanted) {
    ws.keep_notices(true);
    for (;;) {
        auto f = ws.recv();
        if (!f) {
            ADD_FAILURE() << "no '" << until << "' frame";
            break;
        }
        if ((*f)["type"] == until) break;
        EXPECT_NE((*f)["type"], unwanted) << f->dump();
        if ((*f)["type"] == "message") ws.send({{"type", "ack"}, {"message_ids", {(*f)["message_id"]}}});
    }
    ws.keep_notices(false);
}

json next_message(WsClient& ws, const std::function<bool(const json&)>& match) {
    for (;;) {
        auto f = ws.recv();
        if (!f) return nullptr;
        if ((*f)["type"] != "message") continue;
        ws.send({{"type", "ack"}, {"message_ids", {(*f)["message_id"]}}});
        if (!match || match(*f)) return *f;
    }
}

}  // namespace natter::test
