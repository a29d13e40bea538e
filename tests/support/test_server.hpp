#pragma once
// natterd in the test process: port 0, a temp data dir, cheap argon2, a
// known token key (so tests can forge and expire tokens).
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "app/app.hpp"
#include "support/test_client.hpp"

namespace natter::test {

inline const std::string kTestKey = "test-key-0123456789-0123456789-0123456789";

class TempDir {
public:
    TempDir();
    ~TempDir();
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

Config test_config(const std::string& data_dir);

class TestServer {
public:
    explicit TestServer(const std::function<void(Config&)>& tweak = {}) : TestServer("", tweak) {}
    // On an existing data dir (a restart), or a new temp dir when empty.
    TestServer(const std::string& data_dir, const std::function<void(Config&)>& tweak, const Clock* clock = nullptr);
    ~TestServer();
    std::uint16_t port() const { return port_; }
    App& app() { return *app_; }
    const std::string& data_dir() const { return dir_; }

private:
    std::optional<TempDir> owned_;
    std::string dir_;
    std::unique_ptr<App> app_;
    std::uint16_t port_ = 0;
};

struct Account {
    std::string username;
    std::string user_id;
    std::string device_id;
    std::string access_token;
    std::string refresh_token;
};

// Registers `username` (password "password1") and signs a first device in.
Account signup(std::uint16_t port, const std::string& username);
// Signs another device of an existing user in.
Account login(std::uint16_t port, const std::string& username, const std::string& device_id = "");
std::unique_ptr<WsClient> connect(std::uint16_t port, const Account& a);
// Connects and reads the inbox drain up to sync_done; the messages pushed before it.
std::unique_ptr<WsClient> connect_synced(std::uint16_t port, const Account& a, std::vector<json>* pushed = nullptr);
// Alice and Bob signed up, each with one device connected and drained.
struct Duo {
    Account alice, bob;
    std::unique_ptr<WsClient> a, b;
    static Duo start(TestServer& s);
};

// Reads pushed messages up to sync_done, acking them in batches as a real
// client does; calls on_message for each. False on a stall or close.
bool drain(WsClient& ws, const std::function<void(const json&)>& on_message);
json send_frame(const std::string& to_user, const std::string& body, const std::string& client_msg_id = "",
                const std::string& request_id = "");
json group_send_frame(const std::string& group_id, const std::string& body, const std::string& request_id = "");
// `owner` creates a group with `members`; the 201 body ({group_id, conversation_id}).
json create_group(std::uint16_t port, const Account& owner, const std::string& name,
                  const std::vector<const Account*>& members);
// Reads every frame (notices too) until one of type `until`, acking
// messages, and fails the test for any frame of type `unwanted` on the way.
// With a ping sent just before, `until` = "pong" shows nothing came meanwhile.
void expect_none_before(WsClient& ws, const std::string& until, const std::string& unwanted);
// Reads `message` frames until one matches, acking every message on the way; null on timeout.
json next_message(WsClient& ws, const std::function<bool(const json&)>& match = {});

}  // namespace natter::test
