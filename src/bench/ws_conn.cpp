#include "bench/ws_conn.hpp"

#include <chrono>

namespace natter::bench {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

net::ip::address_v4 source_address(std::uint64_t i, std::uint64_t distinct) {
    if (distinct) i %= distinct;
    std::uint32_t b3 = 1 + static_cast<std::uint32_t>(i % 250);
    std::uint32_t rest = static_cast<std::uint32_t>(i / 250);
    return net::ip::address_v4((127u << 24) | ((rest / 256 % 256) << 16) | ((rest % 256) << 8) | b3);
}

std::string WsConn::how_ended() const {
    if (close_code) return "close " + std::to_string(close_code) + (close_reason.empty() ? "" : " (" + close_reason + ")");
    if (!end_error.empty()) return end_error;
    return "closed";
}

WsConn::WsConn(WsHost& host, std::size_t index) : host_(host), index_(index), ws_(host.ioc) {}

void WsConn::start() {
    auto& sock = beast::get_lowest_layer(ws_).socket();
    beast::error_code ec;
    sock.open(tcp::v4(), ec);
    if (!ec) sock.bind(tcp::endpoint(source_address(index_, host_.source_ips), 0), ec);
    if (!ec) sock.set_option(tcp::no_delay(true), ec);
    if (ec) {
        ended = true;
        sock.close(ec);
        return host_.on_failed(*this, "socket: " + ec.message());
    }
    beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(30));
    beast::get_lowest_layer(ws_).async_connect(
        host_.target, [self = shared_from_this()](beast::error_code ec) { self->on_connect(ec); });
}

void WsConn::on_connect(beast::error_code ec) {
    if (ec) {
        ended = true;
        end_error = "connect: " + ec.message();
        return host_.on_failed(*this, end_error);
    }
    beast::get_lowest_layer(ws_).expires_never();
    auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::client);
    if (host_.idle_timeout.count() > 0) {
        timeouts.idle_timeout = host_.idle_timeout;
        timeouts.keep_alive_pings = true;
    }
    ws_.set_option(timeouts);
    const auto& u = host_.user_of(*this);
    std::string auth = "Bearer " + u.access_token;
    ws_.set_option(websocket::stream_base::decorator(
        [auth](websocket::request_type& req) { req.set(beast::http::field::authorization, auth); }));
    ws_.async_handshake(res_, host_.host_header, "/v1/ws?user=" + u.user_id,
                        [self = shared_from_this()](beast::error_code ec) { self->on_handshake(ec); });
}

void WsConn::on_handshake(beast::error_code ec) {
    if (ec) {
        ended = true;
        beast::error_code ignored;
        beast::get_lowest_layer(ws_).socket().close(ignored);
        http_status = static_cast<int>(res_.result_int());
        end_error = "handshake: HTTP " + std::to_string(http_status) + " " + ec.message();
        return host_.on_failed(*this, end_error);
    }
    upgraded = true;
    read();
}

void WsConn::read() {
    ws_.async_read(buf_, [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
}

void WsConn::on_read(beast::error_code ec) {
    if (ec) {
        if (ec == websocket::error::closed) {
            close_code = static_cast<std::uint16_t>(ws_.reason().code);
            close_reason = std::string(ws_.reason().reason.data(), ws_.reason().reason.size());
        } else if (end_error.empty()) {
            end_error = ec == beast::error::timeout ? "idle timeout" : ec.message();
        }
        return end();
    }
    auto data = buf_.cdata();
    host_.on_frame(*this, std::string_view(static_cast<const char*>(data.data()), data.size()));
    buf_.consume(buf_.size());
    if (!ended) read();
}

void WsConn::add_ack(std::string_view message_id) {
    if (acks_.empty()) host_.ack_pending(*this);
    acks_.emplace_back(message_id);
    if (acks_.size() >= host_.ack_batch) flush_acks();
}

void WsConn::flush_acks() {
    if (acks_.empty() || ended) return;
    std::string f = R"({"type":"ack","message_ids":[)";
    for (std::size_t i = 0; i < acks_.size(); ++i) {
        if (i) f += ',';
        f += '"';
        f += acks_[i];
        f += '"';
    }
    f += "]}";
    acks_.clear();
    ++host_.ack_frames;
    write(std::move(f));
}

void WsConn::write(std::string frame) {
    if (ended || closing_) return;
    out_.push_back(std::move(frame));
    if (!writing_) do_write();
}

void WsConn::do_write() {
    writing_ = true;
    ws_.async_write(net::buffer(out_.front()), [self = shared_from_this()](beast::error_code ec, std::size_t) {
        self->writing_ = false;
        self->out_.pop_front();
        if (ec) {
            if (self->end_error.empty()) self->end_error = "write: " + ec.message();
            return self->end();
        }
        if (!self->out_.empty()) return self->do_write();
        if (self->closing_) self->do_close();
    });
}

void WsConn::close() {
    flush_acks();
    closing_ = true;
    if (ended) return;
    if (!writing_) do_close();
}

void WsConn::abort() {
    closing_ = true;
    if (ended) return;
    if (end_error.empty()) end_error = "aborted";
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
}

void WsConn::do_close() {
    if (close_sent_ || ended) return;
    close_sent_ = true;
    ws_.async_close(websocket::close_code::normal, [self = shared_from_this()](beast::error_code) { self->end(); });
}

void WsConn::end() {
    if (ended) return;
    ended = true;
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
    host_.on_ended(*this);
}

}  // namespace natter::bench
