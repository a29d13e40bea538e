// Hostile input: every bad frame gets an error frame with its id, the socket
// survives, and nothing already accepted is lost. Limits close with the
// protocol's codes.
#include <gtest/gtest.h>

#include "sessions/session_registry.hpp"
#include "support/test_server.hpp"

namespace natter::test {
namespace {

class BadInput : public ::testing::Test {
protected:
    void SetUp() override {
        alice = signup(s.port(), "alice");
        bob = signup(s.port(), "bob");
        ws = connect_synced(s.port(), alice);
    }
    // Sends `frame` and expects an error with `code` (and the frame's id, if any).
    void expect_error(const std::string& frame, const std::string& code, const std::string& id = "") {
        ws->send_text(frame);
        auto e = ws->expect("error");
        EXPECT_EQ(e["code"], code) << frame << " -> " << e.dump();
        if (!id.empty()) {
            EXPECT_EQ(e["id"], id) << frame;
        }
        EXPECT_TRUE(e["message"].is_string());
    }
    void expect_alive() {
        ws->send({{"type", "ping"}, {"id", "alive"}});
        EXPECT_EQ(ws->expect("pong")["id"], "alive");
    }
    TestServer s;
    Account alice, bob;
    std::unique_ptr<WsClient> ws;
};

TEST_F(BadInput, MalformedFramesGetErrorsAndTheSocketSurvives) {
    expect_error("not json", "invalid");
    expect_error("[1,2]", "invalid");
    expect_error(R"({"id":"a"})", "invalid", "a");
    expect_error(R"({"id":"b","type":42})", "invalid", "b");
    expect_error(R"({"id":"c","type":"teleport"})", "invalid", "c");
    expect_error(R"({"id":7,"type":"ping"})", "invalid");
    expect_error(R"({"id":")" + std::string(65, 'x') + R"(","type":"ping"})", "too_large");
    ws->send_binary("\x01\x02");
    EXPECT_EQ(ws->expect("error")["code"], "invalid");
    expect_alive();
}

TEST_F(BadInput, BadSendsAreRejectedWithTheRightCode) {
    auto to = R"("to":{"user":")" + bob.user_id + R"("})";
    auto uuid = new_uuid();
    expect_error(R"({"type":"send","id":"1",)" + to + R"(,"body":"x"})", "invalid", "1");  // no client_msg_id
    expect_error(R"({"type":"send","id":"2","client_msg_id":"nope",)" + to + R"(,"body":"x"})", "invalid", "2");
    expect_error(R"({"type":"send","id":"3","client_msg_id":")" + uuid + R"("})", "invalid", "3");  // no to
    expect_error(R"({"type":"send","id":"4","client_msg_id":")" + uuid + R"(","to":{"user":17},"body":"x"})", "invalid", "4");
    expect_error(R"({"type":"send","id":"5","client_msg_id":")" + uuid + R"(","to":{"user":"999"},"body":"x"})", "not_found", "5");
    expect_error(R"({"type":"send","id":"6","client_msg_id":")" + uuid + R"(",)" + to + R"(})", "invalid", "6");  // no body
    expect_error(R"({"type":"send","id":"7","client_msg_id":")" + uuid + R"(",)" + to + R"(,"body":""})", "invalid", "7");
    expect_error(R"({"type":"send","id":"8","client_msg_id":")" + uuid + R"(",)" + to + R"(,"body":")" + std::string(501, 'a') + R"("})", "too_large", "8");
    expect_error(R"({"type":"send","id":"9","client_msg_id":")" + uuid + R"(",)" + to + R"(,"body":"\ud800"})", "invalid");
    expect_error(R"({"type":"send","id":"10","client_msg_id":")" + uuid + R"(",)" + to + R"(,"body":42})", "invalid", "10");
    expect_error(R"({"type":"ack","id":"11","message_ids":"1"})", "invalid", "11");
    expect_error(R"({"type":"ack","id":"12","message_ids":["x"]})", "invalid", "12");

    // 500 code points of four bytes each is within the limit.
    std::string emoji;
    for (int i = 0; i < 500; ++i) emoji += "\xF0\x9F\x98\x80";
    ws->send(send_frame(bob.user_id, emoji, uuid, "ok"));
    auto sent = ws->expect("sent");
    EXPECT_EQ(sent["id"], "ok");
    EXPECT_EQ(sent["seq"], 1) << "a rejected send took a seq";
    std::vector<json> pushed;
    connect_synced(s.port(), bob, &pushed);
    ASSERT_EQ(pushed.size(), 1u);
    EXPECT_EQ(pushed[0]["body"], emoji);
}

TEST_F(BadInput, AcksForForeignIdsAreIgnored) {
    auto wb = connect_synced(s.port(), bob);
    ws->send(send_frame(bob.user_id, "keep me"));
    auto sent = ws->expect("sent");
    // Alice acks bob's message id from her own device: bob's inbox keeps it.
    ws->send({{"type", "ack"}, {"message_ids", {sent["message_id"], "12345"}}});
    expect_alive();
    auto m = wb->expect("message");
    wb->close();
    std::vector<json> pushed;
    connect_synced(s.port(), bob, &pushed);
    ASSERT_EQ(pushed.size(), 1u);
    EXPECT_EQ(pushed[0]["message_id"], m["message_id"]);
}

TEST_F(BadInput, AFrameOverTheLimitCloses1009) {
    ws->send_text(R"({"type":"ping","id":")" + std::string(70 * 1024, 'x') + R"("})");
    EXPECT_EQ(ws->wait_close(), 1009);
}

TEST(Limits, SendsOverTheRateGetRateLimitedWithRetryAfter) {
    TestServer s([](Config& c) {
        c.limits.send_rate_per_s = 1;
        c.limits.send_burst = 3;
    });
    auto alice = signup(s.port(), "alice");
    auto bob = signup(s.port(), "bob");
    auto ws = connect_synced(s.port(), alice);
    for (int i = 0; i < 3; ++i) {
        ws->send(send_frame(bob.user_id, "ok"));
        ws->expect("sent");
    }
    ws->send(send_frame(bob.user_id, "too fast", "", "r"));
    auto e = ws->expect("error");
    EXPECT_EQ(e["code"], "rate_limited");
    EXPECT_EQ(e["id"], "r");
    EXPECT_GT(e["retry_after_ms"].get<int>(), 0);
    EXPECT_LE(e["retry_after_ms"].get<int>(), 1000);
}

TEST(Limits, AFrameFloodCloses1008) {
    TestServer s([](Config& c) {
        c.limits.frame_rate_per_s = 1;
        c.limits.frame_burst = 20;
    });
    auto alice = signup(s.port(), "alice");
    auto ws = connect_synced(s.port(), alice);
    for (int i = 0; i < 40; ++i) ws->send({{"type", "ping"}});
    EXPECT_EQ(ws->wait_close(), 1008);
}

TEST(Limits, AReaderThatDoesNotDrainIsClosed4008AndKeepsItsInbox) {
    TestServer s([](Config& c) {
        c.limits.push_window = 16;
        c.limits.outbound_queue_bytes = 16 * c.limits.max_message_frame_bytes();
        c.limits.frame_burst = 1e6;
    });
    auto alice = signup(s.port(), "alice");
    auto bob = signup(s.port(), "bob");
    auto a = connect_synced(s.port(), alice);
    auto slow = WsClient::connect(s.port(), "user=" + bob.user_id, bob.access_token, nullptr, 16384);
    ASSERT_TRUE(slow);
    slow->expect("sync_done");  // attached: from here on bob is pushed to live
    for (int i = 0; i < 10; ++i) {
        a->send(send_frame(bob.user_id, "m" + std::to_string(i)));
        a->expect("sent");
    }
    // Bob asks and asks but never reads the answers: the kernel's buffers
    // fill, then natterd's queue for him.
    const json ping = {{"type", "ping"}, {"id", std::string(64, 'p')}};
    int pings = 0;
    while (pings < 500000 && s.app().registry().sessions() == 2) {
        slow->send(ping);
        ++pings;
    }
    ASSERT_LT(pings, 500000) << "the slow reader was never cut off";
    EXPECT_EQ(slow->wait_close(30s), 4008);

    // The messages pushed to him but never acked wait in his inbox.
    auto again = connect(s.port(), bob);
    int received = 0;
    EXPECT_TRUE(drain(*again, [&](const json& m) { EXPECT_EQ(m["body"], "m" + std::to_string(received++)); }));
    EXPECT_EQ(received, 10);
}

// A browser page of another site must not open a socket with its
// visitor's credentials: the upgrade's Origin is the server's own, one of
// server.allowed_origins, or absent (not a browser).
TEST(Origins, OnlyTheServersOwnOrAnAllowedBrowserOriginOpensASocket) {
    TestServer s([](Config& c) { c.allowed_origins = "https://app.example.com, http://localhost:5173"; });
    auto alice = signup(s.port(), "alice");
    const std::string host = "127.0.0.1:" + std::to_string(s.port());
    auto upgrade = [&](const std::string& origin) {
        std::vector<std::pair<std::string, std::string>> h = {
            {"Host", host}, {"Connection", "Upgrade"}, {"Upgrade", "websocket"},
            {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}, {"Sec-WebSocket-Version", "13"},
            {"Authorization", "Bearer " + alice.access_token}};
        if (!origin.empty()) h.emplace_back("Origin", origin);
        return http_raw(s.port(), "GET", "/v1/ws?user=" + alice.user_id, "", h);
    };
    EXPECT_EQ(upgrade("").status, 101) << "no Origin: not a browser";
    EXPECT_EQ(upgrade("http://" + host).status, 101) << "the page natterd served";
    EXPECT_EQ(upgrade("https://" + host).status, 101) << "the same page behind a TLS proxy";
    EXPECT_EQ(upgrade("https://app.example.com").status, 101);
    EXPECT_EQ(upgrade("HTTP://LOCALHOST:5173").status, 101) << "origins compare without case";
    for (const std::string origin : {"https://evil.example", "null", "https://app.example.com.evil.example",
                                     "http://127.0.0.1:1"}) {
        auto refused = upgrade(origin);
        EXPECT_EQ(refused.status, 403) << origin;
        EXPECT_EQ(refused.body["error"]["code"], "forbidden") << origin;
    }
}

}  // namespace
}  // namespace natter::test
