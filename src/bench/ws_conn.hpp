#pragma once
// One client WebSocket of natter-bench, shared by the scenarios (direct,
// offline, connections, group): binds its own 127.x.y.z source address,
// connects, upgrades at `/v1/ws?user=<user id>` (the parameter a proxy's
// `balance url_param user` hashes) with the user's bearer token, reads
// frames and hands them to its host, queues writes (one in flight), batches
// acks, closes, and says how it ended (close code, HTTP status, error). One
// object is one connection: a scenario that reconnects makes a new one. Internal to the
// scenario .cpp files: this header (with ws_conn.cpp) is where the client's
// Beast lives; relay.cpp has the server's.

#include "bench/reconnect_policy.hpp"
#include "bench/users.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace natter::bench {

// Socket i's source address in 127.0.0.0/8, avoiding .0 and .255 host bytes.
boost::asio::ip::address_v4 source_address(std::uint64_t i, std::uint64_t distinct);

class WsConn;

// What a scenario gives its connections: the io_context, where to connect,
// and the callbacks for what they see.
class WsHost {
public:
    virtual ~WsHost() = default;

    boost::asio::io_context ioc;
    boost::asio::ip::tcp::endpoint target;
    std::string host_header;          // "host:port"
    std::uint64_t source_ips = 0;     // distinct source addresses; 0: one per socket
    std::uint64_t ack_batch = 64;     // flush acks when this many are pending
    std::uint64_t ack_frames = 0;     // `ack` frames written, all connections
    // > 0: a socket that receives nothing for this long is dropped (Beast
    // pings it at half the time first); 0: no idle timeout (the default).
    std::chrono::milliseconds idle_timeout{0};

    virtual const BenchUser& user_of(const WsConn& c) const = 0;
    virtual void on_failed(WsConn& c, const std::string& why) = 0;  // before the upgrade completed
    virtual void on_ended(WsConn& c) = 0;                           // the socket is closed
    virtual void on_frame(WsConn& c, std::string_view text) = 0;
    virtual void ack_pending(WsConn& c) = 0;                        // first id of a new ack batch
};

class WsConn : public std::enable_shared_from_this<WsConn> {
public:
    WsConn(WsHost& host, std::size_t index);
    void start();
    void write(std::string frame);
    void add_ack(std::string_view message_id);
    void flush_acks();
    void close();
    // Drops the TCP connection at once, whatever state it is in: a pending
    // connect or handshake fails (on_failed), an open socket ends (on_ended).
    void abort();

    std::size_t index() const { return index_; }
    std::size_t queued() const { return out_.size(); }
    bool has_acks() const { return !acks_.empty(); }

    bool ready = false;            // the host saw its first sync_done
    bool ended = false;
    bool upgraded = false;         // the WebSocket handshake completed
    std::uint64_t in_flight = 0;   // scenario counters (direct: sent, not yet delivered)
    std::uint64_t unanswered = 0;  // (direct: sent, no `sent` or `error` yet)

    // How it ended, for the host's on_failed / on_ended.
    int http_status = 0;             // a failed handshake's HTTP status (0: none came)
    std::uint16_t close_code = 0;    // the server's close frame (0: none: EOF, reset, timeout)
    std::string close_reason;        // its reason text
    std::string end_error;           // the error that ended the socket, when not a close frame
    std::string how_ended() const;   // "close 1012 (server restarting: reconnect)" / "end of stream" ...

private:
    void on_connect(boost::beast::error_code ec);
    void on_handshake(boost::beast::error_code ec);
    void read();
    void on_read(boost::beast::error_code ec);
    void do_write();
    void do_close();
    void end();

    WsHost& host_;
    std::size_t index_;
    boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
    boost::beast::websocket::response_type res_;
    boost::beast::flat_buffer buf_;
    std::deque<std::string> out_;
    bool writing_ = false;
    bool closing_ = false;
    bool close_sent_ = false;
    std::vector<std::string> acks_;
};

}  // namespace natter::bench
