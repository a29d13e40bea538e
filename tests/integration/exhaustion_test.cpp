// Resource exhaustion: connections that never send, headers that trickle
// in, oversized upgrades, frame and ping floods, JSON nested without end,
// too many connections from one address. Each is cut off by a timeout or a
// limit, and the server goes on serving everyone else.
#include <gtest/gtest.h>

#include <array>
#include <deque>
#include <functional>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "support/test_server.hpp"

namespace natter::test {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http_ns = boost::beast::http;
using tcp = net::ip::tcp;

// Runs `ioc` until `done` or the deadline; whether `done` held.
template <class Pred>
bool run_until(net::io_context& ioc, Pred done, std::chrono::milliseconds deadline = kDeadline) {
    auto until = std::chrono::steady_clock::now() + deadline;
    while (!done()) {
        ioc.restart();
        if (ioc.run_one_until(until) == 0 && std::chrono::steady_clock::now() >= until) return done();
    }
    return true;
}

// A raw TCP connection that keeps reading whatever the server sends until
// the server ends it (end of stream or a reset).
struct Raw {
    Raw(net::io_context& ioc, std::uint16_t port) : sock(ioc) {
        sock.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    }
    void read() {
        sock.async_read_some(net::buffer(buf), [this](beast::error_code ec, std::size_t n) {
            got.append(buf.data(), n);
            if (ec) {
                ended = true;
                return;
            }
            read();
        });
    }
    tcp::socket sock;
    std::array<char, 4096> buf{};
    std::string got;
    bool ended = false;
};

std::size_t count_ended(const std::deque<Raw>& raws) {
    std::size_t n = 0;
    for (const auto& r : raws) n += r.ended;
    return n;
}

// A keep-alive connection that got a 200 for /healthz and stays open; null
// when the server answered anything else (429: over the per-address limit)
// or closed it.
std::unique_ptr<beast::tcp_stream> hold(net::io_context& ioc, std::uint16_t port) {
    auto s = std::make_unique<beast::tcp_stream>(ioc);
    s->socket().connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    http_ns::request<http_ns::empty_body> req{http_ns::verb::get, "/healthz", 11};
    req.set(http_ns::field::host, "127.0.0.1");
    beast::flat_buffer buf;
    http_ns::response<http_ns::string_body> res;
    bool done = false, ok = false;
    s->expires_after(kDeadline);
    http_ns::async_write(*s, req, [&](beast::error_code ec, std::size_t) {
        if (ec) {
            done = true;
            return;
        }
        http_ns::async_read(*s, buf, res, [&](beast::error_code e, std::size_t) {
            done = true;
            ok = !e && res.result_int() == 200 && res.keep_alive();
        });
    });
    run_until(ioc, [&] { return done; });
    if (!ok) return nullptr;
    s->expires_never();
    return s;
}

std::vector<std::pair<std::string, std::string>> upgrade_headers(std::uint16_t port, const Account& a) {
    return {{"Host", "127.0.0.1:" + std::to_string(port)},
            {"Connection", "Upgrade"},
            {"Upgrade", "websocket"},
            {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
            {"Sec-WebSocket-Version", "13"},
            {"Authorization", "Bearer " + a.access_token}};
}

// limits.http_timeout_ms counts from accept: a connection that never sends
// a byte is dropped, hundreds of them cost the others nothing meanwhile.
TEST(Exhaustion, HalfOpenConnectionsAreDroppedWhileOthersAreServed) {
    TestServer s([](Config& c) { c.limits.http_timeout_ms = 1000; });
    net::io_context ioc;
    std::deque<Raw> idle;
    for (int i = 0; i < 200; ++i) idle.emplace_back(ioc, s.port()).read();

    auto duo = Duo::start(s);
    duo.a->send(send_frame(duo.bob.user_id, "served meanwhile"));
    duo.a->expect("sent");
    EXPECT_EQ(next_message(*duo.b)["body"], "served meanwhile");

    ASSERT_TRUE(run_until(ioc, [&] { return count_ended(idle) == idle.size(); }, 20s))
        << count_ended(idle) << " of " << idle.size() << " silent connections were dropped";
    for (const auto& r : idle) EXPECT_EQ(r.got, "") << "a silent connection is dropped without an answer";
    // The sockets that chat are not HTTP requests: the timeout left them alone.
    duo.a->send({{"type", "ping"}, {"id", "still"}});
    EXPECT_EQ(duo.a->expect("pong")["id"], "still");
}

// Slowloris: the deadline is for the whole header, not for each byte, so
// a byte every 100 ms (well inside any per-byte timeout) does not keep the
// connection open. The pacing is the slow client's, not a wait for the server.
TEST(Exhaustion, AHeaderTricklingInIsCutOffForTheWholeRequest) {
    TestServer s([](Config& c) { c.limits.http_timeout_ms = 1000; });
    net::io_context ioc;
    Raw slow(ioc, s.port());
    slow.read();
    const std::string start = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    net::write(slow.sock, net::buffer(start));
    net::steady_timer pace(ioc);
    int sent = 0;
    const int most = 100;  // 10 s of bytes: far past the 1 s the whole request may take
    std::function<void()> next = [&] {
        if (slow.ended || sent == most) return;
        pace.expires_after(100ms);
        pace.async_wait([&](beast::error_code) {
            beast::error_code ec;
            if (slow.ended) return;
            slow.sock.write_some(net::buffer("a", 1), ec);
            ++sent;
            if (!ec) next();
        });
    };
    next();
    run_until(ioc, [&] { return slow.ended || sent == most; }, 30s);
    EXPECT_TRUE(slow.ended) << "the server still held the connection after " << sent << " bytes of one header";
    EXPECT_LT(sent, most);
    EXPECT_EQ(slow.got, "");
    pace.cancel();
    EXPECT_EQ(http(s.port(), "GET", "/healthz").status, 200);
}

// After an early answer natterd reads and drops what the client still
// sends, for a bounded time in all: a trickle does not stretch it.
TEST(Exhaustion, TheDrainAfterAnEarlyAnswerIsBoundedAsAWhole) {
    TestServer s([](Config& c) { c.limits.http_timeout_ms = 1000; });
    net::io_context ioc;
    Raw r(ioc, s.port());
    r.read();
    net::write(r.sock, net::buffer(std::string("POST /v1/accounts HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                               "Content-Type: application/json\r\nContent-Length: 10000000\r\n\r\n")));
    // The 413 comes first, then the server stops writing (end of stream).
    ASSERT_TRUE(run_until(ioc, [&] { return r.ended; }));
    EXPECT_EQ(r.got.rfind("HTTP/1.1 413", 0), 0u) << r.got;
    // What follows is drained until the bound, then the socket is closed:
    // a write to a closed socket fails (a reset).
    net::steady_timer pace(ioc);
    int sent = 0;
    bool failed = false;
    const int most = 100;
    std::function<void()> next = [&] {
        pace.expires_after(100ms);
        pace.async_wait([&](beast::error_code) {
            beast::error_code ec;
            r.sock.write_some(net::buffer("x", 1), ec);
            ++sent;
            if (ec) failed = true;
            else if (sent < most) next();
        });
    };
    next();
    run_until(ioc, [&] { return failed || sent == most; }, 30s);
    EXPECT_TRUE(failed) << "the drain was still reading after " << sent << " trickled bytes";
}

// Headers are bounded at 16 KiB, an upgrade's as much as any request's:
// a huge cookie or subprotocol list gets 431, not a socket.
TEST(Exhaustion, OversizedUpgradeRequestsGet431) {
    TestServer s;
    auto alice = signup(s.port(), "alice");
    auto target = "/v1/ws?user=" + alice.user_id;
    EXPECT_EQ(http_raw(s.port(), "GET", target, "", upgrade_headers(s.port(), alice)).status, 101) << "the control";
    auto with = [&](const std::string& name, const std::string& value) {
        auto h = upgrade_headers(s.port(), alice);
        h.emplace_back(name, value);
        return http_raw(s.port(), "GET", target, "", h);
    };
    for (const std::string name : {"Cookie", "Sec-WebSocket-Protocol"}) {
        auto r = with(name, std::string(20 * 1024, 'c'));
        EXPECT_EQ(r.status, 431) << name;
        EXPECT_EQ(r.body["error"]["code"], "too_large") << name;
    }
    auto many = upgrade_headers(s.port(), alice);
    for (int i = 0; i < 500; ++i) many.emplace_back("X-Pad-" + std::to_string(i), std::string(40, 'p'));
    EXPECT_EQ(http_raw(s.port(), "GET", target, "", many).status, 431) << "many small headers add up";
    EXPECT_EQ(with("Cookie", std::string(8 * 1024, 'c')).status, 101) << "under the limit";
}

TEST(Exhaustion, AnUpgradeRequestWithABodyIsRefused) {
    TestServer s;
    auto alice = signup(s.port(), "alice");
    auto r = http_raw(s.port(), "GET", "/v1/ws?user=" + alice.user_id, std::string(1000, 'b'), upgrade_headers(s.port(), alice));
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.body["error"]["code"], "invalid");
    auto h = upgrade_headers(s.port(), alice);
    h.emplace_back("Transfer-Encoding", "chunked");
    EXPECT_EQ(http_raw(s.port(), "GET", "/v1/ws?user=" + alice.user_id, "", h).status, 400) << "a chunked one too";
}

// 100,000 levels of nesting within the size limits: an `invalid` error on
// both paths, the socket and the server unharmed.
TEST(Exhaustion, DeeplyNestedJsonIsInvalidInAFrameAndInABody) {
    TestServer s([](Config& c) {
        c.limits.max_frame_bytes = 1 << 20;
        c.limits.max_http_body_bytes = 1 << 20;
    });
    auto alice = signup(s.port(), "alice");
    auto ws = connect_synced(s.port(), alice);
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    auto nest = [](std::size_t n) { return std::string(n, '[') + std::string(n, ']'); };

    ws->send_text(R"({"type":"ping","id":"deep","x":)" + deep + "}");
    auto e = ws->expect("error");
    EXPECT_EQ(e["code"], "invalid");
    EXPECT_NE(e["message"].get<std::string>().find("nested deeper than 32"), std::string::npos) << e.dump();
    ws->send_text(deep);
    EXPECT_EQ(ws->expect("error")["code"], "invalid");
    // 32 levels, the outer object included, is within the limit.
    ws->send_text(R"({"type":"ping","id":"edge","x":)" + nest(31) + "}");
    EXPECT_EQ(ws->expect("pong")["id"], "edge");

    auto r = http_raw(s.port(), "POST", "/v1/sessions",
                      R"({"username":"alice","password":"password1","x":)" + deep + "}",
                      {{"Content-Type", "application/json"}});
    EXPECT_EQ(r.status, 400) << r.raw.substr(0, 200);
    EXPECT_EQ(r.body["error"]["code"], "invalid");
    EXPECT_NE(r.raw.find("nested deeper than 32"), std::string::npos) << r.raw.substr(0, 200);
    EXPECT_EQ(http_raw(s.port(), "POST", "/v1/sessions", deep, {{"Content-Type", "application/json"}}).status, 400);
    EXPECT_EQ(http(s.port(), "POST", "/v1/sessions", {{"username", "alice"}, {"password", "password1"}}).status, 200);
}

// The frame budget counts every frame: empty ones, binary ones, and the
// pings and pongs Beast answers by itself.
TEST(Exhaustion, FloodsOfTinyFramesAndOfPingsClose1008) {
    TestServer s([](Config& c) {
        c.limits.frame_rate_per_s = 1;
        c.limits.frame_burst = 20;
    });
    auto alice = signup(s.port(), "alice");
    {
        auto ws = connect_synced(s.port(), alice);
        for (int i = 0; i < 40; ++i) ws->send_text("");
        EXPECT_EQ(ws->wait_close(), 1008) << "empty text frames";
    }
    {
        auto ws = connect_synced(s.port(), alice);
        for (int i = 0; i < 40; ++i) ws->send_binary("");
        EXPECT_EQ(ws->wait_close(), 1008) << "empty binary frames";
    }
    {
        auto ws = connect_synced(s.port(), alice);
        for (int i = 0; i < 40; ++i) ws->send_ping();
        EXPECT_EQ(ws->wait_close(), 1008) << "WebSocket pings";
    }
}

// limits.max_connections_per_address counts HTTP and WebSocket
// connections alike; one over it is answered 429 and closed at once.
TEST(Exhaustion, ConnectionsPerAddressAreLimited) {
    TestServer s([](Config& c) {
        c.limits.max_connections_per_address = 3;
        c.limits.per_address_exempt = "";  // count loopback, where the test runs
    });
    auto alice = signup(s.port(), "alice");
    net::io_context ioc;
    std::vector<std::unique_ptr<beast::tcp_stream>> held;
    // The sign-up's connections close a moment after their answers: retry.
    for (int i = 0; i < 2; ++i)
        ASSERT_TRUE(eventually([&] {
            auto h = hold(ioc, s.port());
            if (!h) return false;
            held.push_back(std::move(h));
            return true;
        }));
    std::unique_ptr<WsClient> ws;
    ASSERT_TRUE(eventually([&] { return bool(ws = WsClient::connect(s.port(), "user=" + alice.user_id, alice.access_token)); }));
    ws->expect("sync_done");

    Raw over(ioc, s.port());
    over.read();
    ASSERT_TRUE(run_until(ioc, [&] { return over.ended; }));
    EXPECT_EQ(over.got.rfind("HTTP/1.1 429", 0), 0u) << over.got;
    EXPECT_NE(over.got.find("rate_limited"), std::string::npos) << over.got;

    // The socket over the limit's neighbours are untouched.
    ws->send({{"type", "ping"}, {"id", "mine"}});
    EXPECT_EQ(ws->expect("pong")["id"], "mine");
    // One closes: a new connection gets its place, and the refusal was counted.
    held.pop_back();
    HttpResult metrics;
    ASSERT_TRUE(eventually([&] { return (metrics = http(s.port(), "GET", "/metrics")).status == 200; }));
    auto at = metrics.raw.find("\nnatter_connections_refused_total ");
    ASSERT_NE(at, std::string::npos);
    EXPECT_GE(std::stod(metrics.raw.substr(at + 34)), 1.0);
}

// Ten connections from loopback, none refused, on a server whose limit per
// address is 2 and whose settings `tweak` makes.
void expect_loopback_uncounted(const std::function<void(Config&)>& tweak, const char* who) {
    TestServer s([&](Config& c) {
        c.limits.max_connections_per_address = 2;
        tweak(c);
    });
    net::io_context ioc;
    std::vector<std::unique_ptr<beast::tcp_stream>> held;
    for (int i = 0; i < 10; ++i) {
        held.push_back(hold(ioc, s.port()));
        ASSERT_TRUE(held.back()) << "connection " << i + 1 << " from " << who << " was refused";
    }
}

// The default exempts loopback: natter-bench and a proxy on the same host
// open thousands of sockets from 127.0.0.1.
TEST(Exhaustion, LoopbackIsExemptByDefault) {
    expect_loopback_uncounted([](Config&) {}, "loopback");
}

// A proxy in server.trusted_proxies carries many clients: its connections
// are not counted (the proxy limits its clients), even with loopback counted.
TEST(Exhaustion, ATrustedProxysConnectionsAreNotCounted) {
    expect_loopback_uncounted([](Config& c) {
        c.limits.per_address_exempt = "";
        c.trusted_proxies = "127.0.0.1";
    }, "the trusted proxy");
}

// limits.max_connections: the process's WebSockets; one more is refused
// before the upgrade with 503, and a socket closing makes room.
TEST(Exhaustion, WebSocketsPastTheProcessLimitGet503) {
    TestServer s([](Config& c) { c.limits.max_connections = 2; });
    auto a = signup(s.port(), "alice"), b = signup(s.port(), "bob"), c = signup(s.port(), "carol");
    auto wa = connect_synced(s.port(), a);
    auto wb = connect_synced(s.port(), b);
    Refused refused;
    EXPECT_FALSE(WsClient::connect(s.port(), "user=" + c.user_id, c.access_token, &refused));
    EXPECT_EQ(refused.status, 503);
    wb->close();
    std::unique_ptr<WsClient> wc;
    EXPECT_TRUE(eventually([&] { return bool(wc = WsClient::connect(s.port(), "user=" + c.user_id, c.access_token)); }))
        << "a closed socket's place is free again";
}

}  // namespace
}  // namespace natter::test
