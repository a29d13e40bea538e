#include "bench/relay.hpp"

#include "bench/frame_scan.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <vector>

namespace natter::bench {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

class RelaySession;

// Who is connected: user id -> their socket. Shared by every I/O thread.
struct Directory {
    std::mutex mu;
    std::unordered_map<std::string, std::weak_ptr<RelaySession>> users;
    std::atomic<std::uint64_t> next_id{1};
};

class RelaySession : public std::enable_shared_from_this<RelaySession> {
public:
    RelaySession(tcp::socket socket, Directory& dir) : ws_(std::move(socket)), dir_(dir) {}

    void start() {
        http::async_read(ws_.next_layer(), buf_, req_,
                         [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_request(ec); });
    }

    // From any thread: queue a frame on this socket's strand.
    void deliver(std::shared_ptr<const std::string> frame) {
        net::post(ws_.get_executor(), [self = shared_from_this(), frame = std::move(frame)] { self->queue(frame); });
    }

private:
    void on_request(beast::error_code ec) {
        if (ec || !websocket::is_upgrade(req_)) return;
        std::string_view target = req_.target();
        auto at = target.find("user=");
        if (at == std::string_view::npos) return;
        user_ = std::string(target.substr(at + 5, target.find('&', at) - (at + 5)));
        beast::get_lowest_layer(ws_).expires_never();
        ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
        ws_.async_accept(req_, [self = shared_from_this()](beast::error_code ec) { self->on_accept(ec); });
    }

    void on_accept(beast::error_code ec) {
        if (ec) return;
        {
            std::lock_guard lock(dir_.mu);
            dir_.users[user_] = weak_from_this();
        }
        queue(std::make_shared<const std::string>(R"({"remaining":0,"type":"sync_done"})"));
        read();
    }

    void read() {
        ws_.async_read(buf_, [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
    }

    void on_read(beast::error_code ec) {
        if (ec) return leave();
        auto data = buf_.cdata();
        on_frame(std::string_view(static_cast<const char*>(data.data()), data.size()));
        buf_.consume(buf_.size());
        read();
    }

    void on_frame(std::string_view text) {
        auto type = scan_string(text, "type");
        if (type == "ping") return queue(std::make_shared<const std::string>(R"({"type":"pong"})"));
        if (type != "send") return;  // acks and the rest need nothing from a relay
        auto to = scan_string(text, "user");
        auto body = scan_raw_string(text, "body");
        auto id = scan_string(text, "id").value_or("");
        if (!to || !body) return queue(error(id, "invalid", "send needs to.user and body"));
        std::shared_ptr<RelaySession> peer;
        {
            std::lock_guard lock(dir_.mu);
            if (auto it = dir_.users.find(std::string(*to)); it != dir_.users.end()) peer = it->second.lock();
        }
        if (!peer) return queue(error(id, "not_found", "no such user connected"));
        auto message_id = std::to_string(dir_.next_id.fetch_add(1, std::memory_order_relaxed));
        auto msg = std::make_shared<std::string>();
        msg->reserve(text.size() + 64);
        *msg += R"({"type":"message","message_id":")";
        *msg += message_id;
        *msg += R"(","from":{"user":")";
        *msg += user_;
        *msg += R"("},"to":{"user":")";
        *msg += *to;
        *msg += R"("},"body":)";
        *msg += *body;
        *msg += '}';
        peer->deliver(std::move(msg));
        auto sent = std::make_shared<std::string>(R"({"type":"sent","id":")");
        *sent += id;
        *sent += R"(","message_id":")";
        *sent += message_id;
        *sent += R"("})";
        queue(std::move(sent));
    }

    static std::shared_ptr<const std::string> error(std::string_view id, std::string_view code, std::string_view message) {
        auto f = std::make_shared<std::string>(R"({"type":"error","id":")");
        *f += id;
        *f += R"(","code":")";
        *f += code;
        *f += R"(","message":")";
        *f += message;
        *f += R"("})";
        return f;
    }

    void queue(std::shared_ptr<const std::string> frame) {
        if (gone_) return;
        out_.push_back(std::move(frame));
        if (out_.size() == 1) write();
    }

    void write() {
        ws_.async_write(net::buffer(*out_.front()), [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec) return self->leave();
            self->out_.pop_front();
            if (!self->out_.empty() && !self->gone_) self->write();
        });
    }

    void leave() {
        if (gone_) return;
        gone_ = true;  // queued frames stay put: a write in flight may still point into the front one
        std::lock_guard lock(dir_.mu);
        if (auto it = dir_.users.find(user_); it != dir_.users.end() && it->second.lock().get() == this)
            dir_.users.erase(it);
    }

    websocket::stream<beast::tcp_stream> ws_;
    Directory& dir_;
    beast::flat_buffer buf_;
    http::request<http::string_body> req_;
    std::string user_;
    std::deque<std::shared_ptr<const std::string>> out_;
    bool gone_ = false;
};

class Listener {
public:
    Listener(net::io_context& ioc, tcp::endpoint at, Directory& dir) : ioc_(ioc), acceptor_(ioc), dir_(dir) {
        acceptor_.open(at.protocol());
        acceptor_.set_option(net::socket_base::reuse_address(true));
        acceptor_.bind(at);
        acceptor_.listen(net::socket_base::max_listen_connections);
    }
    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

    void accept() {
        acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket s) {
            if (!ec) {
                s.set_option(tcp::no_delay(true), ec);
                std::make_shared<RelaySession>(std::move(s), dir_)->start();
            }
            if (acceptor_.is_open()) accept();
        });
    }
    void stop() {
        beast::error_code ignored;
        acceptor_.close(ignored);
    }

private:
    net::io_context& ioc_;
    tcp::acceptor acceptor_;
    Directory& dir_;
};

}  // namespace

void run_relay(const RelayOptions& o, const std::function<void(std::uint16_t)>& on_listening) {
    unsigned threads = std::max(1u, o.threads);
    net::io_context ioc(static_cast<int>(threads));
    Directory dir;
    std::unique_ptr<Listener> listener;
    try {
        listener = std::make_unique<Listener>(ioc, tcp::endpoint(net::ip::make_address(o.host), o.port), dir);
    } catch (const std::exception& e) {
        throw std::runtime_error("relay cannot listen on " + o.host + ":" + std::to_string(o.port) + ": " + e.what());
    }
    listener->accept();
    net::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](beast::error_code, int) {
        listener->stop();
        ioc.stop();
    });
    on_listening(listener->port());
    std::vector<std::thread> pool;
    for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&] { ioc.run(); });
    ioc.run();
    for (auto& t : pool) t.join();
}

}  // namespace natter::bench
