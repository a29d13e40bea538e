#pragma once
// A real natterd in the test process (port 0, temp data dir) and the natter
// binary run against it, each user a --profile in one temp config dir.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "e2e/cli_process.hpp"
#include "support/test_server.hpp"

namespace natter::e2e {

using test::json;

constexpr const char* kPassword = "password1";

class E2E : public ::testing::Test {
protected:
    // Set before SetUp runs (in a derived constructor) to change natterd's config.
    std::function<void(Config&)> tweak_;
    // Set with tweak_ when it turns TLS on: url() is then https://.
    bool tls_ = false;

    void SetUp() override;
    void TearDown() override;

    std::string url() const;
    std::uint16_t port() const { return server_->port(); }
    test::TestServer& server() { return *server_; }
    void stop_server() { server_.reset(); }
    // A clean stop (close 1012 to every socket), then a new natterd on the
    // same port and data.
    void restart_server();

    // natter --server URL --profile PROFILE ARGS..., stdin closed; waits for it.
    CliResult natter(const std::string& profile, const std::vector<std::string>& args, const Env& env = {});
    // The same, left running, for chat, listen and signals.
    std::unique_ptr<CliProcess> start(const std::string& profile, const std::vector<std::string>& args,
                                      const Env& env = {});
    // The same on a pseudo-terminal (stdin and stdout), as someone typing would run it.
    std::unique_ptr<CliProcess> start_on_terminal(const std::string& profile, const std::vector<std::string>& args);
    // Any arguments, no --server or --profile added.
    std::unique_ptr<CliProcess> start_raw(const std::vector<std::string>& args, const Env& env = {},
                                          bool terminal = false);

    // register + login through the CLI, profile = username; the stored profile.
    json sign_up(const std::string& username);
    json profile(const std::string& name) const;
    void write_profile(const std::string& name, const json& j) const;
    std::string profile_path(const std::string& name) const;

    // The device of a profile, as a test WebSocket client (its access token).
    test::Account account(const std::string& name) const;

private:
    Env base_env() const;
    std::unique_ptr<test::TempDir> data_;
    std::unique_ptr<test::TestServer> server_;
    std::unique_ptr<test::TempDir> config_;
};

// The JSON lines of a stdout.
std::vector<json> json_lines(const std::string& out);
// d:<low>:<high>.
std::string direct_conversation(const std::string& a, const std::string& b);
// Connects as the device and expects sync_done first: nothing left unacked.
void expect_inbox_empty(std::uint16_t port, const test::Account& device);

}  // namespace natter::e2e
