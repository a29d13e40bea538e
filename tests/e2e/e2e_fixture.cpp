#include "e2e/e2e_fixture.hpp"

#include <fstream>
#include <sstream>

namespace natter::e2e {

void E2E::SetUp() {
    data_ = std::make_unique<test::TempDir>();
    server_ = std::make_unique<test::TestServer>(data_->path(), tweak_);
    config_ = std::make_unique<test::TempDir>();
}

void E2E::TearDown() {
    server_.reset();
    data_.reset();
    config_.reset();
}

void E2E::restart_server() {
    auto same_port = server_->port();
    server_.reset();
    auto tweak = tweak_;
    server_ = std::make_unique<test::TestServer>(data_->path(), [same_port, tweak](Config& c) {
        if (tweak) tweak(c);
        c.port = same_port;
    });
}

std::string E2E::url() const {
    return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(server_->port());
}

Env E2E::base_env() const {
    return {{"NATTER_CONFIG_DIR", config_->path()}, {"NATTER_PASSWORD", kPassword}, {"HOME", config_->path()}};
}

std::unique_ptr<CliProcess> E2E::start_raw(const std::vector<std::string>& args, const Env& env, bool terminal) {
    auto e = base_env();
    for (const auto& [k, v] : env) e[k] = v;
    return std::make_unique<CliProcess>(NATTER_CLI_PATH, args, e, terminal);
}

std::unique_ptr<CliProcess> E2E::start_on_terminal(const std::string& profile, const std::vector<std::string>& args) {
    std::vector<std::string> all{"--server", url(), "--profile", profile};
    all.insert(all.end(), args.begin(), args.end());
    return start_raw(all, {{"TERM", "xterm"}}, true);
}

std::unique_ptr<CliProcess> E2E::start(const std::string& profile, const std::vector<std::string>& args, const Env& env) {
    std::vector<std::string> all{"--server", url(), "--profile", profile};
    all.insert(all.end(), args.begin(), args.end());
    return start_raw(all, env);
}

CliResult E2E::natter(const std::string& profile, const std::vector<std::string>& args, const Env& env) {
    auto p = start(profile, args, env);
    p->close_stdin();
    p->wait();
    return p->result();
}

json E2E::sign_up(const std::string& username) {
    auto r = natter(username, {"register", username});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    r = natter(username, {"login", username});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return profile(username);
}

std::string E2E::profile_path(const std::string& name) const { return config_->path() + "/" + name + ".json"; }

json E2E::profile(const std::string& name) const {
    std::ifstream in(profile_path(name));
    std::stringstream text;
    text << in.rdbuf();
    auto j = json::parse(text.str(), nullptr, false);
    return j.is_discarded() ? json() : j;
}

void E2E::write_profile(const std::string& name, const json& j) const {
    std::ofstream(profile_path(name)) << j.dump(2);
}

test::Account E2E::account(const std::string& name) const {
    auto p = profile(name);
    test::Account a;
    a.username = p.value("username", "");
    a.user_id = p.value("user_id", "");
    a.device_id = p.value("device_id", "");
    a.access_token = p.value("access_token", "");
    a.refresh_token = p.value("refresh_token", "");
    return a;
}

std::vector<json> json_lines(const std::string& out) {
    std::vector<json> lines;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) lines.push_back(json::parse(line, nullptr, false));
    return lines;
}

}  // namespace natter::e2e

namespace natter::e2e {

std::string direct_conversation(const std::string& a, const std::string& b) {
    return std::stoull(a) <= std::stoull(b) ? "d:" + a + ":" + b : "d:" + b + ":" + a;
}

void expect_inbox_empty(std::uint16_t port, const test::Account& device) {
    // The acks the CLI sent before it closed are queued for the store's
    // writer; a profile write queued behind them returns once they are in.
    auto barrier = test::http(port, "PATCH", "/v1/users/me", {{"description", ""}}, device.access_token);
    ASSERT_EQ(barrier.status, 200) << barrier.raw;
    auto ws = test::connect(port, device);
    ASSERT_TRUE(ws);
    auto first = ws->recv();
    ASSERT_TRUE(first);
    EXPECT_EQ((*first)["type"], "sync_done") << "pushed again, so never acked: " << first->dump();
    EXPECT_EQ((*first)["remaining"], 0);
}

}  // namespace natter::e2e
