#pragma once
// Internal to the transport: what server.cpp and ws_session.cpp share.
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <deque>

#include <boost/asio/steady_timer.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "sessions/connection.hpp"
#include "sessions/device_session.hpp"
#include "transport/address_limit.hpp"
#include "transport/server.hpp"

namespace natter::transport {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;
namespace ssl = boost::asio::ssl;

// The two streams a session runs on: plain TCP, and TLS over it. Sessions
// are templates on it, instantiated for these two in their .cpp files.
using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

struct Shared {
    Shared(ServerDeps d, AddressPolicy a)
        : deps(std::move(d)), addresses(std::move(a)), per_address(deps.limits, addresses.trusted_proxies) {}
    ServerDeps deps;
    AddressPolicy addresses;  // ServerConfig's: who a request comes from
    AddressLimit per_address;
    std::vector<std::string> allowed_origins;  // ServerConfig's
    std::chrono::milliseconds tls_handshake_timeout{30000};  // ServerConfig's
    std::atomic<std::size_t> websockets{0};
    std::mutex gone_mu;
    std::condition_variable gone;  // a WebSocket ended: stop() waits on it
    std::atomic<std::size_t> pending{0};    // requests handed to the blocking pool
    std::atomic<std::size_t> upgrading{0};  // WebSocket handshakes being authenticated
    std::atomic<std::uint64_t> frames_in{0}, frames_out{0}, http_requests{0};
};

// One WebSocket: owns the stream, the outbound queue (one write in flight),
// and the DeviceSession that speaks the protocol over it. Stream is
// PlainStream or TlsStream (ws_session.cpp instantiates both).
template <class Stream>
class WsSession final : public Connection, public std::enable_shared_from_this<WsSession<Stream>> {
public:
    // Takes over the HTTP session's stream (for TLS: its finished handshake).
    WsSession(Stream&& stream, Shared& shared, Principal who);
    ~WsSession() override;
    void accept(http::request<http::string_body> req);
    void keep(AddressSlot slot) { slot_ = std::move(slot); }  // the connection's count, taken at accept

    void send(std::shared_ptr<const std::string> frame) override;
    void close(int code, std::string reason) override;
    void post(std::function<void()> fn) override;

private:
    void on_accept(beast::error_code ec);
    void do_read();
    void on_read(beast::error_code ec, std::size_t bytes);
    void enqueue(std::shared_ptr<const std::string> frame);
    void do_write();
    void on_write(beast::error_code ec, std::size_t bytes);
    void start_close(int code, std::string reason);
    void do_close();
    void finish();

    websocket::stream<Stream> ws_;
    beast::flat_buffer buffer_;
    Shared& shared_;
    Principal who_;
    std::shared_ptr<DeviceSession> session_;
    std::deque<std::shared_ptr<const std::string>> queue_;
    std::size_t queued_bytes_ = 0;
    bool writing_ = false;
    bool closing_ = false;      // no more frames: a close is pending or done
    bool close_sent_ = false;
    bool finished_ = false;
    websocket::close_reason close_reason_;
    net::steady_timer close_timer_;  // a peer that never answers the close is cut off
    AddressSlot slot_;
};

extern template class WsSession<PlainStream>;
extern template class WsSession<TlsStream>;

}  // namespace natter::transport
