// Operations: health and readiness, metrics that move with traffic, and the
// drain natterd does on SIGTERM.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "support/test_server.hpp"

namespace natter::test {
namespace {

// The value of one sample line of /metrics, e.g. `natter_sends_total{result="accepted"}`.
double metric(std::uint16_t port, const std::string& sample) {
    auto text = http(port, "GET", "/metrics").raw;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
        if (line.rfind(sample + " ", 0) == 0) return std::stod(line.substr(sample.size() + 1));
    ADD_FAILURE() << "no sample " << sample << " in:\n" << text;
    return -1;
}

TEST(Operations, HealthAndReadiness) {
    TestServer s;
    EXPECT_EQ(http(s.port(), "GET", "/healthz").status, 200);
    auto ready = http(s.port(), "GET", "/readyz");
    EXPECT_EQ(ready.status, 200);
    EXPECT_EQ(ready.body["status"], "ready");
}

TEST(Operations, MetricsMoveWithTraffic) {
    TestServer s;
    auto alice = signup(s.port(), "alice");
    auto bob = signup(s.port(), "bob");
    auto a = connect_synced(s.port(), alice);
    EXPECT_EQ(metric(s.port(), "natter_connections"), 1);
    EXPECT_EQ(metric(s.port(), "natter_sends_total{result=\"accepted\"}"), 0);
    for (int i = 0; i < 3; ++i) {
        a->send(send_frame(bob.user_id, "hi"));
        a->expect("sent");
    }
    a->send(send_frame(bob.user_id, std::string(600, 'x')));
    a->expect("error");
    EXPECT_EQ(metric(s.port(), "natter_sends_total{result=\"accepted\"}"), 3);
    EXPECT_EQ(metric(s.port(), "natter_sends_total{result=\"too_large\"}"), 1);
    EXPECT_EQ(metric(s.port(), "natter_inbox_depth"), 3) << "bob has not connected";
    EXPECT_EQ(metric(s.port(), "natter_store_commit_seconds_count"), 3);
    EXPECT_GE(metric(s.port(), "natter_frames_in_total"), 4);

    auto b = connect(s.port(), bob);
    ASSERT_TRUE(drain(*b, [](const json&) {}));
    b->send(send_frame(alice.user_id, "barrier"));  // after the acks in the store's queue
    std::string conv = b->expect("sent")["conversation_id"];
    EXPECT_EQ(metric(s.port(), "natter_messages_delivered_total"), 4) << "three to bob, the barrier to alice";
    EXPECT_EQ(metric(s.port(), "natter_messages_acked_total"), 3);
    EXPECT_EQ(metric(s.port(), "natter_inbox_depth"), 1) << "only the barrier, for alice";
    EXPECT_EQ(metric(s.port(), "natter_connections"), 2);
    EXPECT_EQ(metric(s.port(), "natter_receipts_published_total"), 1) << "bob's acks told alice, in one receipt";
    EXPECT_EQ(metric(s.port(), "natter_presence_changes_total"), 2) << "alice and bob came online";
    b->send({{"type", "presence"}, {"users", {alice.user_id}}});
    b->expect("presence");
    EXPECT_EQ(metric(s.port(), "natter_presence_watched_users"), 1);
    b->send({{"type", "typing"}, {"conversation_id", conv}, {"state", "start"}});
    ASSERT_FALSE(next_message(*a).is_null()) << "the barrier";
    a->expect("typing");
    EXPECT_EQ(metric(s.port(), "natter_typing_relayed_total"), 1);
    EXPECT_GT(metric(s.port(), "process_resident_memory_bytes"), 1e6);
    EXPECT_GT(metric(s.port(), "process_open_fds"), 3);
}

TEST(Operations, DrainReportsNotReadyThenClosesWith1012) {
    TestServer s;
    auto alice = signup(s.port(), "alice");
    auto ws = connect_synced(s.port(), alice);
    std::thread drainer([&] { s.app().drain(std::chrono::seconds(1)); });
    // Not ready during the grace period, while sockets are still served.
    auto until = std::chrono::steady_clock::now() + kDeadline;
    int status = 200;
    while (status == 200 && std::chrono::steady_clock::now() < until) status = http(s.port(), "GET", "/readyz").status;
    EXPECT_EQ(status, 503);
    ws->send({{"type", "ping"}, {"id", "still"}});
    EXPECT_EQ(ws->expect("pong")["id"], "still");
    EXPECT_EQ(ws->wait_close(), 1012);
    drainer.join();
}

TEST(Operations, SeededUsersConnectWithTheirMintedTokens) {
    TestServer s;
    std::stringstream out;
    s.app().seed_users(SeedUsers{3, "load", 3600}, out);
    std::vector<Account> seeded;
    for (std::string line; std::getline(out, line);) {
        auto j = json::parse(line);
        seeded.push_back(Account{j["username"], j["user_id"], j["device_id"], j["access_token"], ""});
    }
    ASSERT_EQ(seeded.size(), 3u);
    EXPECT_EQ(seeded[2].username, "load2");
    auto a = connect_synced(s.port(), seeded[0]);
    auto b = connect_synced(s.port(), seeded[1]);
    a->send(send_frame(seeded[1].user_id, "seeded"));
    a->expect("sent");
    EXPECT_EQ(b->expect("message")["body"], "seeded");
    // Nobody can sign in with a password as a seeded user.
    EXPECT_EQ(http(s.port(), "POST", "/v1/sessions", {{"username", "load0"}, {"password", "password1"}}).status, 401);
    std::stringstream again;
    EXPECT_THROW(s.app().seed_users(SeedUsers{1, "load", 3600}, again), std::runtime_error) << "load0 is taken";
}

}  // namespace
}  // namespace natter::test

namespace natter::test {
namespace {

TEST(WebClient, NatterdServesItsFilesWithSecurityHeadersBesideTheApi) {
    TempDir web;
    std::filesystem::create_directories(std::filesystem::path(web.path()) / "assets");
    std::ofstream(std::filesystem::path(web.path()) / "index.html") << "<!doctype html><title>natter</title>";
    std::ofstream(std::filesystem::path(web.path()) / "assets" / "app-1.js") << "console.log('hi')";
    TestServer s([&](Config& c) { c.web_root = web.path(); });
    auto index = http_raw(s.port(), "GET", "/");
    ASSERT_EQ(index.status, 200);
    EXPECT_EQ(index.raw, "<!doctype html><title>natter</title>");
    EXPECT_EQ(index.headers["Content-Type"], "text/html; charset=utf-8");
    EXPECT_NE(index.headers["Content-Security-Policy"].find("frame-ancestors 'none'"), std::string::npos);
    EXPECT_EQ(index.headers["X-Content-Type-Options"], "nosniff");
    EXPECT_EQ(index.headers["X-Frame-Options"], "DENY");
    auto js = http_raw(s.port(), "GET", "/assets/app-1.js");
    EXPECT_EQ(js.raw, "console.log('hi')");
    EXPECT_EQ(js.headers["Cache-Control"], "public, max-age=31536000, immutable");
    EXPECT_EQ(http_raw(s.port(), "GET", "/chat/42").raw, index.raw) << "the app's own route";
    auto head = http_raw(s.port(), "HEAD", "/");
    EXPECT_EQ(head.status, 200);
    EXPECT_TRUE(head.raw.empty());
    // The API and the operations endpoints are untouched; nothing escapes the root.
    EXPECT_EQ(http(s.port(), "GET", "/v1/nope").body["error"]["code"], "not_found");
    EXPECT_EQ(http(s.port(), "GET", "/healthz").body["status"], "ok");
    EXPECT_EQ(http_raw(s.port(), "GET", "/../natter.db").status, 404);
    EXPECT_EQ(http_raw(s.port(), "GET", "/assets/missing.js").status, 404);
    EXPECT_EQ(http_raw(s.port(), "POST", "/", "{}").status, 404);
}

}  // namespace
}  // namespace natter::test
