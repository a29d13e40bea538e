// natterd's own TLS: HTTPS and WSS with a certificate made at test time,
// nothing in plain text on the TLS port, untrusted certificates and old
// protocol versions refused, a client that never starts TLS dropped.
#include <gtest/gtest.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <array>
#include <functional>

#include "support/test_certs.hpp"
#include "support/test_server.hpp"

namespace natter::test {
namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// A client trusting `ca_file`, or the system's CAs when it is empty.
ssl::context client_context(const std::string& ca_file) {
    ssl::context ctx(ssl::context::tls_client);
    if (ca_file.empty()) ctx.set_default_verify_paths();
    else ctx.load_verify_file(ca_file);
    ctx.set_verify_mode(ssl::verify_peer);
    return ctx;
}

tcp::endpoint local(std::uint16_t port) { return {net::ip::make_address("127.0.0.1"), port}; }

struct HttpsResult {
    beast::error_code error;  // the first failure: connect, handshake, write or read
    int status = 0;
    json body;
};

// One request over a new TLS connection, the certificate checked for `verify_host`.
HttpsResult https(ssl::context& ctx, std::uint16_t port, const std::string& method, const std::string& target,
                  const json& body = nullptr, const std::string& token = "", const std::string& verify_host = "127.0.0.1") {
    net::io_context ioc;
    TlsStream stream(ioc, ctx);
    stream.set_verify_callback(ssl::host_name_verification(verify_host));
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    if (!body.is_null()) {
        req.set(http::field::content_type, "application/json");
        req.body() = body.dump();
    }
    req.prepare_payload();
    HttpsResult out;
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    auto fail = [&](beast::error_code ec) { out.error = ec; };
    beast::get_lowest_layer(stream).expires_after(kDeadline);
    beast::get_lowest_layer(stream).async_connect(local(port), [&](beast::error_code ec) {
        if (ec) return fail(ec);
        stream.async_handshake(ssl::stream_base::client, [&](beast::error_code ec) {
            if (ec) return fail(ec);
            http::async_write(stream, req, [&](beast::error_code ec, std::size_t) {
                if (ec) return fail(ec);
                http::async_read(stream, buf, res, [&](beast::error_code ec, std::size_t) {
                    if (ec) return fail(ec);
                    out.status = res.result_int();
                    out.body = json::parse(res.body(), nullptr, false);
                });
            });
        });
    });
    ioc.run();
    return out;
}

// OpenSSL's reason code inside a handshake failure (0 for another kind of error).
int tls_reason(const beast::error_code& ec) {
    if (ec.category() != net::error::get_ssl_category()) return 0;
    return ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
}

// A WebSocket over TLS, every wait bounded.
class WssClient {
public:
    explicit WssClient(ssl::context& ctx) : ws_(ioc_, ctx) {}

    // The upgrade's status: 101 when the socket opened.
    int connect(std::uint16_t port, const std::string& query, const std::string& token, const std::string& origin = "") {
        auto& tls = ws_.next_layer();
        tls.set_verify_callback(ssl::host_name_verification("127.0.0.1"));
        ws_.set_option(websocket::stream_base::decorator([token, origin](websocket::request_type& req) {
            if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
            if (!origin.empty()) req.set(http::field::origin, origin);
        }));
        websocket::response_type res;
        bool done = false;
        beast::get_lowest_layer(ws_).expires_after(kDeadline);
        beast::get_lowest_layer(ws_).async_connect(local(port), [&](beast::error_code ec) {
            if (ec) return void(done = true);
            tls.async_handshake(ssl::stream_base::client, [&](beast::error_code ec) {
                if (ec) return void(done = true);
                beast::get_lowest_layer(ws_).expires_never();
                ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
                ws_.async_handshake(res, "127.0.0.1:" + std::to_string(port), "/v1/ws?" + query,
                                    [&](beast::error_code) { done = true; });
            });
        });
        auto until = std::chrono::steady_clock::now() + kDeadline;
        while (!done && ioc_.run_one_until(until) > 0) {
        }
        return done ? res.result_int() : 0;
    }

    void send(const json& frame) {
        ws_.text(true);
        ws_.write(net::buffer(frame.dump()));
    }

    // The next frame of `type`, skipping others; fails the test on an error frame.
    json expect(const std::string& type) {
        auto until = std::chrono::steady_clock::now() + kDeadline;
        for (;;) {
            if (!reading_) {
                reading_ = true;
                ws_.async_read(buf_, [this](beast::error_code ec, std::size_t) {
                    reading_ = false;
                    read_ec_ = ec;
                });
            }
            ioc_.restart();
            while (reading_ && ioc_.run_one_until(until) > 0) {
            }
            if (reading_ || read_ec_) {
                ADD_FAILURE() << "no '" << type << "' frame: " << (reading_ ? "timed out" : read_ec_.message());
                return json::object();
            }
            auto f = json::parse(beast::buffers_to_string(buf_.data()), nullptr, false);
            buf_.consume(buf_.size());
            if (f.is_object() && f.value("type", "") == type) return f;
            EXPECT_NE(f.is_object() ? f.value("type", "") : "", "error") << f.dump();
        }
    }

private:
    net::io_context ioc_;
    websocket::stream<TlsStream> ws_;
    beast::flat_buffer buf_;
    bool reading_ = false;
    beast::error_code read_ec_;
};

class Tls : public ::testing::Test {
protected:
    TempDir dir_;
    TestCerts certs_ = make_test_certs(dir_.path());
    TestServer server_{[this](Config& c) {
        c.tls.cert_file = certs_.cert_file;
        c.tls.key_file = certs_.key_file;
        c.tls.handshake_timeout_ms = 1000;
    }};
    ssl::context trusting_ = client_context(certs_.ca_file);

    std::uint16_t port() const { return server_.port(); }

    Account https_signup(const std::string& username) {
        Account a;
        a.username = username;
        auto r = https(trusting_, port(), "POST", "/v1/accounts", {{"username", username}, {"password", "password1"}});
        EXPECT_EQ(r.status, 201) << r.error.message();
        r = https(trusting_, port(), "POST", "/v1/sessions",
                  {{"username", username}, {"password", "password1"}, {"device_name", "tls"}});
        EXPECT_EQ(r.status, 200) << r.error.message();
        if (r.status != 200) return a;
        a.user_id = r.body["user_id"];
        a.device_id = r.body["device_id"];
        a.access_token = r.body["access_token"];
        return a;
    }
};

TEST_F(Tls, HttpsRegistersAndSignsIn) {
    auto alice = https_signup("alice");
    ASSERT_FALSE(alice.access_token.empty());
    auto me = https(trusting_, port(), "GET", "/v1/users/me", nullptr, alice.access_token);
    EXPECT_EQ(me.status, 200) << me.error.message();
    EXPECT_EQ(me.body["username"], "alice");
}

TEST_F(Tls, WssAuthenticatesSendsAndReceives) {
    auto alice = https_signup("alice");
    auto bob = https_signup("bob");
    WssClient a(trusting_), b(trusting_);
    ASSERT_EQ(b.connect(port(), "user=" + bob.user_id, bob.access_token), 101);
    b.expect("sync_done");
    ASSERT_EQ(a.connect(port(), "user=" + alice.user_id, alice.access_token), 101);
    a.expect("sync_done");
    a.send(send_frame(bob.user_id, "over tls", "", "r1"));
    auto sent = a.expect("sent");
    EXPECT_EQ(sent["id"], "r1");
    auto got = b.expect("message");
    EXPECT_EQ(got["body"], "over tls");
    EXPECT_EQ(got["from"]["user"], alice.user_id);
}

TEST_F(Tls, WssWithoutATokenIsRefused) {
    WssClient c(trusting_);
    EXPECT_EQ(c.connect(port(), "user=1", ""), 401);
}

// A page natterd served over https opens its socket with Origin https://Host.
TEST_F(Tls, TheOriginOfAPageServedOverHttpsMayOpenASocketAndOthersMayNot) {
    auto alice = https_signup("alice");
    auto own = "https://127.0.0.1:" + std::to_string(port());
    WssClient same(trusting_);
    EXPECT_EQ(same.connect(port(), "user=" + alice.user_id, alice.access_token, own), 101);
    same.expect("sync_done");
    WssClient other(trusting_);
    EXPECT_EQ(other.connect(port(), "user=" + alice.user_id, alice.access_token, "https://evil.example"), 403);
}

TEST_F(Tls, PlainHttpOnTheTlsPortGetsNoHttpAnswerAndIsClosed) {
    net::io_context ioc;
    beast::tcp_stream s(ioc);
    s.connect(local(port()));
    std::string request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    net::write(s.socket(), net::buffer(request));
    std::string got;
    std::array<char, 1024> chunk{};
    beast::error_code ended;
    std::function<void()> read = [&] {
        s.async_read_some(net::buffer(chunk), [&](beast::error_code ec, std::size_t n) {
            got.append(chunk.data(), n);
            if (ec) return void(ended = ec);
            read();
        });
    };
    s.expires_after(kDeadline);
    read();
    ioc.run();
    EXPECT_NE(ended, beast::error::timeout) << "the server kept a plain-text connection open";
    EXPECT_EQ(got.find("HTTP/"), std::string::npos) << got;
}

TEST_F(Tls, AClientThatDoesNotTrustTheCertificateCannotConnect) {
    auto system_only = client_context("");
    auto r = https(system_only, port(), "GET", "/healthz");
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(tls_reason(r.error), SSL_R_CERTIFICATE_VERIFY_FAILED) << r.error.message();
    // The same server, trusted, answers.
    EXPECT_EQ(https(trusting_, port(), "GET", "/healthz").status, 200);
}

TEST_F(Tls, TheCertificateMustNameTheHost) {
    auto r = https(trusting_, port(), "GET", "/healthz", nullptr, "", "chat.example.com");
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(tls_reason(r.error), SSL_R_CERTIFICATE_VERIFY_FAILED) << r.error.message();
}

TEST_F(Tls, Tls11IsRefusedByTheServer) {
    ssl::context old(ssl::context::tls_client);
    SSL_CTX_set_security_level(old.native_handle(), 0);  // this client would go as low as TLS 1.0
    SSL_CTX_set_cipher_list(old.native_handle(), "DEFAULT:@SECLEVEL=0");
    SSL_CTX_set_min_proto_version(old.native_handle(), TLS1_VERSION);
    SSL_CTX_set_max_proto_version(old.native_handle(), TLS1_1_VERSION);
    old.set_verify_mode(ssl::verify_none);
    auto r = https(old, port(), "GET", "/healthz");
    EXPECT_EQ(r.status, 0);
    // The server's protocol_version alert, not a refusal on this side.
    EXPECT_EQ(tls_reason(r.error), SSL_R_TLSV1_ALERT_PROTOCOL_VERSION) << r.error.message();
}

TEST_F(Tls, AClientThatNeverStartsTlsIsDroppedAfterTheHandshakeTimeout) {
    net::io_context ioc;
    tcp::socket s(ioc);
    s.connect(local(port()));
    char byte = 0;
    bool closed = false;
    s.async_read_some(net::buffer(&byte, 1), [&](beast::error_code ec, std::size_t) { closed = bool(ec); });
    // Well past the 1 s handshake timeout; the close ends the wait.
    ioc.run_for(kDeadline);
    EXPECT_TRUE(closed) << "a silent connection to the TLS port was kept open";
}

}  // namespace
}  // namespace natter::test
