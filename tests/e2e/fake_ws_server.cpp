#include "e2e/fake_ws_server.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

namespace natter::e2e {

namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr int kFakeWaitMs = 10000;

namespace {

class Connection final : public FakeConnection {
public:
    explicit Connection(tcp::socket socket) : ws_(std::move(socket)) {
        timeval tv{kFakeWaitMs / 1000, 0};  // sync reads: the kernel's timeout is the deadline
        ::setsockopt(ws_.next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }

    void accept() {
        websocket::request_type req;
        beast::flat_buffer buf;
        beast::http::read(ws_.next_layer(), buf, req);
        authorization_ = std::string(req[beast::http::field::authorization]);
        ws_.accept(req);
    }

    // 503 to the handshake, as natterd answers when it is full.
    void refuse() {
        websocket::request_type req;
        beast::flat_buffer buf;
        beast::http::read(ws_.next_layer(), buf, req);
        beast::http::response<beast::http::string_body> res{beast::http::status::service_unavailable, 11};
        res.body() = R"({"error":{"code":"unavailable","message":"fake: no script left"}})";
        res.prepare_payload();
        beast::http::write(ws_.next_layer(), res);
    }

    std::optional<nlohmann::json> read() override {
        beast::flat_buffer buf;
        beast::error_code ec;
        ws_.read(buf, ec);
        if (ec) return std::nullopt;
        return nlohmann::json::parse(beast::buffers_to_string(buf.data()), nullptr, false);
    }

    void send(const nlohmann::json& frame) override {
        ws_.text(true);
        ws_.write(net::buffer(frame.dump()));
    }

    void close(int code, const std::string& reason) override {
        beast::error_code ec;
        ws_.close(websocket::close_reason(websocket::close_code(code), reason), ec);
        beast::flat_buffer buf;
        while (!ec) ws_.read(buf, ec);  // until the client's close frame (or timeout)
    }

    void drop() override {
        beast::error_code ec;
        ws_.next_layer().close(ec);
    }

    const std::string& authorization() const override { return authorization_; }

private:
    websocket::stream<tcp::socket> ws_;
    std::string authorization_;
};

}  // namespace

struct FakeWsServer::Impl {
    net::io_context ioc;
    tcp::acceptor acceptor{ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)};
    std::vector<Script> scripts;
    std::atomic<bool> stop{false};
    std::mutex mu;
    std::vector<std::string> failures;
    std::thread thread;

    // Waits for a connection without blocking past a stop().
    std::optional<tcp::socket> next() {
        while (!stop) {
            pollfd p{acceptor.native_handle(), POLLIN, 0};
            if (::poll(&p, 1, 50) > 0) return acceptor.accept();
        }
        return std::nullopt;
    }

    void serve() {
        for (std::size_t i = 0; !stop; ++i) {
            auto socket = next();
            if (!socket) return;
            try {
                Connection c(std::move(*socket));
                if (i >= scripts.size()) {
                    c.refuse();
                    continue;
                }
                c.accept();
                scripts[i](c);
            } catch (const std::exception& e) {
                std::lock_guard lock(mu);
                failures.push_back("connection " + std::to_string(i) + ": " + e.what());
            }
        }
    }
};

FakeWsServer::FakeWsServer(std::vector<Script> scripts) : impl_(std::make_unique<Impl>()) {
    impl_->scripts = std::move(scripts);
    impl_->thread = std::thread([this] { impl_->serve(); });
}

FakeWsServer::~FakeWsServer() {
    impl_->stop = true;
    impl_->thread.join();
}

std::string FakeWsServer::url() const {
    return "http://127.0.0.1:" + std::to_string(impl_->acceptor.local_endpoint().port());
}

std::vector<std::string> FakeWsServer::failures() {
    std::lock_guard lock(impl_->mu);
    return impl_->failures;
}

}  // namespace natter::e2e
