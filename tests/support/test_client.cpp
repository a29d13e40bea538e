#include "support/test_client.hpp"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "core/crypto.hpp"

#include <random>

namespace natter::test {

namespace beast = boost::beast;
namespace http_ns = boost::beast::http;
namespace websocket = boost::beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

HttpResult http_raw(std::uint16_t port, const std::string& method, const std::string& target, const std::string& body,
                    const std::vector<std::pair<std::string, std::string>>& headers) {
    net::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    http_ns::request<http_ns::string_body> req{http_ns::string_to_verb(method), target, 11};
    req.set(http_ns::field::host, "127.0.0.1");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    if (!body.empty() || method == "PUT" || method == "POST") req.prepare_payload();
    // An explicit Content-Length given by the caller wins (to test a lie).
    for (const auto& [k, v] : headers)
        if (beast::iequals(k, "Content-Length")) req.set(http_ns::field::content_length, v);
    stream.expires_after(kDeadline);
    bool done = false;
    beast::flat_buffer buf;
    http_ns::response_parser<http_ns::string_body> parser;
    parser.body_limit(64u << 20);
    if (method == "HEAD") parser.skip(true);  // a HEAD answer has a length but no body
    http_ns::async_write(stream, req, [&](beast::error_code ec, std::size_t) {
        // The server may answer (and close) before taking the whole body.
        http_ns::async_read(stream, buf, parser, [&](beast::error_code e, std::size_t) { done = !e; });
        (void)ec;
    });
    ioc.run();
    HttpResult out;
    out.status = done ? parser.get().result_int() : 0;
    out.raw = parser.get().body();
    out.body = json::parse(out.raw, nullptr, false);
    if (out.body.is_discarded()) out.body = nullptr;
    for (const auto& f : parser.get()) out.headers[std::string(f.name_string())] = std::string(f.value());
    return out;
}

HttpResult http(std::uint16_t port, const std::string& method, const std::string& target, const json& body,
                const std::string& token) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    std::string text;
    if (!body.is_null()) {
        headers.emplace_back("Content-Type", "application/json");
        text = body.is_string() ? body.get<std::string>() : body.dump();
    }
    return http_raw(port, method, target, text, headers);
}

struct WsClient::Impl {
    net::io_context ioc;
    websocket::stream<beast::tcp_stream> ws{ioc};
    beast::flat_buffer buf;
    bool reading = false;
    bool read_done = false;
    beast::error_code read_ec;
    bool closed = false;
    bool keep_notices = false;
    int code = 0;

    // Runs the io_context until `done` or the deadline.
    template <class Pred>
    bool run_until(Pred done, std::chrono::milliseconds deadline) {
        auto until = std::chrono::steady_clock::now() + deadline;
        while (!done()) {
            ioc.restart();
            if (ioc.run_one_until(until) == 0 && std::chrono::steady_clock::now() >= until) return done();
        }
        return true;
    }

    void start_read() {
        if (reading || closed) return;
        reading = true;
        read_done = false;
        ws.async_read(buf, [this](beast::error_code ec, std::size_t) {
            reading = false;
            read_done = true;
            read_ec = ec;
        });
    }
};

WsClient::WsClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

WsClient::~WsClient() {
    beast::error_code ignored;
    beast::get_lowest_layer(impl_->ws).socket().close(ignored);
}

std::unique_ptr<WsClient> WsClient::connect(std::uint16_t port, const std::string& query, const std::string& token,
                                            Refused* refused, int rcvbuf) {
    auto impl = std::make_unique<Impl>();
    auto& sock = beast::get_lowest_layer(impl->ws).socket();
    sock.open(tcp::v4());
    if (rcvbuf > 0) sock.set_option(net::socket_base::receive_buffer_size(rcvbuf));
    sock.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    impl->ws.set_option(websocket::stream_base::decorator([token](websocket::request_type& req) {
        if (!token.empty()) req.set(http_ns::field::authorization, "Bearer " + token);
    }));
    impl->ws.read_message_max(16 << 20);
    websocket::response_type res;
    beast::error_code ec;
    impl->ws.handshake(res, "127.0.0.1", "/v1/ws?" + query, ec);
    if (ec) {
        if (refused) refused->status = res.result_int();
        return nullptr;
    }
    return std::unique_ptr<WsClient>(new WsClient(std::move(impl)));
}

void WsClient::send(const json& frame) { send_text(frame.dump()); }

void WsClient::send_text(const std::string& text) {
    beast::error_code ec;
    impl_->ws.text(true);
    impl_->ws.write(net::buffer(text), ec);
}

void WsClient::send_binary(const std::string& bytes) {
    beast::error_code ec;
    impl_->ws.binary(true);
    impl_->ws.write(net::buffer(bytes), ec);
    impl_->ws.text(true);
}

void WsClient::send_ping() {
    beast::error_code ec;
    impl_->ws.ping({}, ec);
}

namespace {
bool is_notice(const json& f) {
    if (!f.is_object() || !f.contains("type") || !f["type"].is_string()) return false;
    const auto& t = f["type"].get_ref<const std::string&>();
    return t == "receipt" || t == "presence" || t == "typing";
}
}  // namespace

void WsClient::keep_notices(bool keep) { impl_->keep_notices = keep; }

std::optional<json> WsClient::recv(std::chrono::milliseconds deadline) {
    auto& i = *impl_;
    auto until = std::chrono::steady_clock::now() + deadline;
    for (;;) {
        if (i.closed) return std::nullopt;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
        i.start_read();
        if (!i.run_until([&] { return i.read_done; }, std::max(left, std::chrono::milliseconds(0)))) return std::nullopt;
        i.read_done = false;
        if (i.read_ec) {
            i.closed = true;
            i.code = i.ws.reason().code;
            return std::nullopt;
        }
        auto text = beast::buffers_to_string(i.buf.data());
        i.buf.consume(i.buf.size());
        auto j = json::parse(text, nullptr, false);
        if (j.is_discarded()) return json(text);
        if (!i.keep_notices && is_notice(j)) continue;
        return j;
    }
}

json WsClient::expect(const std::string& type, std::chrono::milliseconds deadline) {
    if (type == "receipt" || type == "presence" || type == "typing") {
        bool kept = impl_->keep_notices;
        impl_->keep_notices = true;
        auto until = std::chrono::steady_clock::now() + deadline;
        std::optional<json> f;
        for (;;) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
            f = recv(std::max(left, std::chrono::milliseconds(0)));
            if (!f || !is_notice(*f) || (*f)["type"] == type) break;
        }
        impl_->keep_notices = kept;
        if (!f) {
            ADD_FAILURE() << "expected a '" << type << "' frame, got " << (closed() ? "close " + std::to_string(close_code()) : "nothing");
            return json::object();
        }
        EXPECT_EQ((*f)["type"], type) << f->dump();
        return *f;
    }
    auto f = recv(deadline);
    if (!f) {
        ADD_FAILURE() << "expected a '" << type << "' frame, got " << (closed() ? "close " + std::to_string(close_code()) : "nothing");
        return json::object();
    }
    EXPECT_EQ((*f)["type"], type) << f->dump();
    return *f;
}

int WsClient::wait_close(std::chrono::milliseconds deadline) {
    auto until = std::chrono::steady_clock::now() + deadline;
    while (!impl_->closed) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
        if (left.count() <= 0) return -1;
        recv(left);
    }
    return impl_->code;
}

bool WsClient::closed() const { return impl_->closed; }
int WsClient::close_code() const { return impl_->code; }

void WsClient::close() {
    beast::error_code ec;
    impl_->ws.close(websocket::close_code::normal, ec);
    impl_->closed = true;
}

std::string new_uuid() { return random_uuid(); }

}  // namespace natter::test
