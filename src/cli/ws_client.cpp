#include "ws_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <deque>

#include "event_loop_impl.hpp"
#include "http_client.hpp"
#include "tls_client.hpp"

namespace natter::cli {

namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

namespace {

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// One WebSocket over Next: PlainStream (ws://) or TlsStream (wss://, the
// TLS handshake between the TCP connect and the WebSocket handshake).
template <class Next>
class BeastWs final : public WsConnection, public std::enable_shared_from_this<BeastWs<Next>> {
    static constexpr bool kTls = std::is_same_v<Next, TlsStream>;
    using std::enable_shared_from_this<BeastWs<Next>>::shared_from_this;

    static websocket::stream<Next> make_stream(net::io_context& ioc, net::ssl::context* tls) {
        if constexpr (kTls) return websocket::stream<Next>(ioc, *tls);
        else return websocket::stream<Next>(ioc);
    }

public:
    // `tls`: the client context, for TlsStream only; it outlives the stream.
    BeastWs(EventLoop& loop, ServerUrl server, std::string target, std::string bearer, WsHandlers h,
            std::shared_ptr<net::ssl::context> tls = nullptr)
        : tls_(std::move(tls)),
          resolver_(loop.impl().ioc),
          ws_(make_stream(loop.impl().ioc, tls_.get())),
          server_(std::move(server)),
          target_(std::move(target)),
          bearer_(std::move(bearer)),
          h_(std::move(h)) {}

    void start() {
        resolver_.async_resolve(server_.host, server_.port,
                                [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type hosts) {
                                    if (ec) return self->end_unreachable(ec);
                                    self->on_resolved(hosts);
                                });
    }

    void send(std::string text) override {
        if (ended_) return;
        queue_.push_back(std::move(text));
        if (open_ && !writing_) write_next();
    }

    void close() override {
        if (ended_) return;
        if (!open_) return end({WsEnd::Kind::closed, 0, "", 1000, "closed before it opened"});
        close_wanted_ = true;
        if (!writing_) start_close();
    }

    void abort() override {
        ended_ = true;
        shutdown();
    }

private:
    void on_resolved(const tcp::resolver::results_type& hosts) {
        beast::get_lowest_layer(ws_).expires_after(30s);
        beast::get_lowest_layer(ws_).async_connect(
            hosts, [self = shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
                if (ec) return self->end_unreachable(ec);
                if constexpr (kTls) self->tls_handshake();
                else self->handshake();
            });
    }

    void tls_handshake() {
        if (!expect_host(ws_.next_layer(), server_.host))
            return end({WsEnd::Kind::unreachable, 0, "", 0, "bad host name for TLS"});
        // Still under the connect's deadline.
        ws_.next_layer().async_handshake(net::ssl::stream_base::client, [self = shared_from_this()](beast::error_code ec) {
            if (ec) return self->end_unreachable(ec);
            self->handshake();
        });
    }

    void handshake() {
        beast::get_lowest_layer(ws_).expires_never();  // the websocket timeouts take over
        websocket::stream_base::timeout t;
        t.handshake_timeout = 30s;  // also bounds the close handshake
        t.idle_timeout = 60s;       // pings at 30 s of silence; drops at 60 s
        t.keep_alive_pings = true;
        ws_.set_option(t);
        ws_.read_message_max(16 << 20);
        ws_.set_option(websocket::stream_base::decorator([bearer = bearer_](websocket::request_type& req) {
            req.set(beast::http::field::user_agent, "natter-cli");
            if (!bearer.empty()) req.set(beast::http::field::authorization, "Bearer " + bearer);
        }));
        ws_.async_handshake(response_, server_.host_header, target_, [self = shared_from_this()](beast::error_code ec) {
            if (ec == websocket::error::upgrade_declined)
                return self->end({WsEnd::Kind::refused, int(self->response_.result_int()), self->response_.body(), 0, ""});
            if (ec) return self->end_unreachable(ec);
            self->on_open();
        });
    }

    void on_open() {
        if (ended_) return;
        open_ = true;
        ws_.text(true);
        read();
        if (h_.on_open) h_.on_open();
        if (!ended_ && !writing_ && !queue_.empty()) write_next();
    }

    void read() {
        ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (self->ended_) return;
            if (ec == websocket::error::closed)
                return self->end({WsEnd::Kind::closed, 0, "", int(self->ws_.reason().code),
                                  std::string(self->ws_.reason().reason.c_str())});
            if (ec) return self->end({WsEnd::Kind::dropped, 0, "", 0, describe(ec)});
            auto text = beast::buffers_to_string(self->buffer_.data());
            self->buffer_.consume(self->buffer_.size());
            if (self->h_.on_text) self->h_.on_text(text);
            if (!self->ended_) self->read();
        });
    }

    void write_next() {
        writing_ = true;
        ws_.async_write(net::buffer(queue_.front()), [self = shared_from_this()](beast::error_code ec, std::size_t) {
            self->writing_ = false;
            if (self->ended_ || ec) return;  // a broken connection is reported by the read
            self->queue_.pop_front();
            if (!self->queue_.empty()) return self->write_next();
            if (self->close_wanted_) self->start_close();
        });
    }

    void start_close() {
        if (!queue_.empty() || closing_) return;
        closing_ = true;
        // The pending read completes with `closed` once the server answers.
        ws_.async_close(websocket::close_code::normal, [](beast::error_code) {});
    }

    static std::string describe(beast::error_code ec) {
        if (ec == beast::error::timeout) return "the server stopped answering";
        return describe_tls_error(ec);
    }

    void end_unreachable(beast::error_code ec) { end({WsEnd::Kind::unreachable, 0, "", 0, describe(ec)}); }

    void end(WsEnd e) {
        if (ended_) return;
        ended_ = true;
        open_ = false;
        shutdown();
        if (h_.on_end) h_.on_end(e);
    }

    void shutdown() {
        beast::error_code ignored;
        resolver_.cancel();
        beast::get_lowest_layer(ws_).socket().close(ignored);
    }

    std::shared_ptr<net::ssl::context> tls_;
    tcp::resolver resolver_;
    websocket::stream<Next> ws_;
    beast::flat_buffer buffer_;
    websocket::response_type response_;
    ServerUrl server_;
    std::string target_;
    std::string bearer_;
    WsHandlers h_;
    std::deque<std::string> queue_;
    bool open_ = false;
    bool writing_ = false;
    bool close_wanted_ = false;
    bool closing_ = false;
    bool ended_ = false;
};

}  // namespace

std::shared_ptr<WsConnection> WsConnection::open(EventLoop& loop, const ServerUrl& server, const std::string& target,
                                                 const std::string& bearer, WsHandlers handlers) {
    if (server.tls) {
        auto ctx = std::make_shared<net::ssl::context>(client_tls_context(server.ca_file));
        auto ws = std::make_shared<BeastWs<TlsStream>>(loop, server, target, bearer, std::move(handlers), std::move(ctx));
        ws->start();
        return ws;
    }
    auto ws = std::make_shared<BeastWs<PlainStream>>(loop, server, target, bearer, std::move(handlers));
    ws->start();
    return ws;
}

}  // namespace natter::cli
