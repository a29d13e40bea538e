#include <boost/asio/post.hpp>

#include "transport/beast_session.hpp"

namespace natter::transport {

template <class Stream>
WsSession<Stream>::WsSession(Stream&& stream, Shared& shared, Principal who)
    : ws_(std::move(stream)), shared_(shared), who_(who), close_timer_(ws_.get_executor()) {
    shared_.websockets++;
}

template <class Stream>
WsSession<Stream>::~WsSession() {
    {
        std::lock_guard lock(shared_.gone_mu);
        shared_.websockets--;
    }
    shared_.gone.notify_all();
}

template <class Stream>
void WsSession<Stream>::accept(http::request<http::string_body> req) {
    // Beast pings a peer silent for half the presence TTL and drops it when
    // the TTL passes unanswered: a client that vanished goes offline then.
    auto timeout = websocket::stream_base::timeout::suggested(beast::role_type::server);
    timeout.idle_timeout = std::chrono::milliseconds(shared_.deps.limits.presence_ttl_ms);
    timeout.keep_alive_pings = true;
    ws_.set_option(timeout);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "natterd"); }));
    ws_.read_message_max(shared_.deps.limits.max_frame_bytes);
    ws_.async_accept(req, beast::bind_front_handler(&WsSession<Stream>::on_accept, this->shared_from_this()));
}

template <class Stream>
void WsSession<Stream>::on_accept(beast::error_code ec) {
    if (ec) return finish();
    session_ = std::make_shared<DeviceSession>(who_, this->weak_from_this(), shared_.deps.messaging, shared_.deps.registry,
                                               shared_.deps.limits, shared_.deps.clock, shared_.deps.presence);
    session_->start();
    // Beast answers pings itself, inside the read: count pings and pongs
    // here, against the same frame budget, or a ping flood goes unmetered.
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
        if (kind != websocket::frame_type::close) session_->on_control();
    });
    do_read();
}

template <class Stream>
void WsSession<Stream>::do_read() {
    ws_.async_read(buffer_, beast::bind_front_handler(&WsSession<Stream>::on_read, this->shared_from_this()));
}

template <class Stream>
void WsSession<Stream>::on_read(beast::error_code ec, std::size_t) {
    // A frame over read_message_max fails here after Beast sent close 1009.
    if (ec) return finish();
    shared_.frames_in.fetch_add(1, std::memory_order_relaxed);
    if (ws_.got_text()) {
        std::string text = beast::buffers_to_string(buffer_.data());
        buffer_.consume(buffer_.size());
        session_->on_text(text);
    } else {
        buffer_.consume(buffer_.size());
        session_->on_binary();
    }
    do_read();
}

template <class Stream>
void WsSession<Stream>::send(std::shared_ptr<const std::string> frame) {
    net::post(ws_.get_executor(), [self = this->shared_from_this(), frame = std::move(frame)]() mutable {
        self->enqueue(std::move(frame));
    });
}

template <class Stream>
void WsSession<Stream>::post(std::function<void()> fn) { net::post(ws_.get_executor(), std::move(fn)); }

template <class Stream>
void WsSession<Stream>::close(int code, std::string reason) {
    net::post(ws_.get_executor(), [self = this->shared_from_this(), code, reason = std::move(reason)]() mutable {
        self->start_close(code, std::move(reason));
    });
}

template <class Stream>
void WsSession<Stream>::enqueue(std::shared_ptr<const std::string> frame) {
    if (closing_ || finished_) return;
    if (queued_bytes_ + frame->size() > shared_.deps.limits.outbound_queue_bytes) {
        // The peer does not read: drop what waits (its inbox keeps it) and close.
        return start_close(close_code::too_slow, "too slow: reconnect and sync");
    }
    queued_bytes_ += frame->size();
    queue_.push_back(std::move(frame));
    if (!writing_) do_write();
}

template <class Stream>
void WsSession<Stream>::do_write() {
    writing_ = true;
    ws_.text(true);
    ws_.async_write(net::buffer(*queue_.front()), beast::bind_front_handler(&WsSession<Stream>::on_write, this->shared_from_this()));
}

template <class Stream>
void WsSession<Stream>::on_write(beast::error_code ec, std::size_t) {
    writing_ = false;
    if (ec) return finish();
    shared_.frames_out.fetch_add(1, std::memory_order_relaxed);
    queued_bytes_ -= queue_.front()->size();
    queue_.pop_front();
    if (closing_) return do_close();
    if (!queue_.empty()) do_write();
}

template <class Stream>
void WsSession<Stream>::start_close(int code, std::string reason) {
    if (closing_ || finished_) return;
    closing_ = true;
    if (reason.size() > 120) reason.resize(120);
    close_reason_ = websocket::close_reason(websocket::close_code(code), reason);
    // Keep the frame being written (if any); drop the rest.
    while (queue_.size() > (writing_ ? 1u : 0u)) {
        queued_bytes_ -= queue_.back()->size();
        queue_.pop_back();
    }
    // A closing socket takes no more deliveries; its inbox keeps them.
    if (session_) session_->on_closed();
    close_timer_.expires_after(std::chrono::seconds(10));
    close_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
        if (ec || self->finished_) return;
        beast::error_code ignored;
        beast::get_lowest_layer(self->ws_).socket().close(ignored);
    });
    if (!writing_) do_close();
}

template <class Stream>
void WsSession<Stream>::do_close() {
    if (close_sent_ || finished_) return;
    close_sent_ = true;
    ws_.async_close(close_reason_, [self = this->shared_from_this()](beast::error_code) {
        // The read loop ends with `closed` once the peer answers (or times out).
    });
}

template <class Stream>
void WsSession<Stream>::finish() {
    if (finished_) return;
    finished_ = true;
    close_timer_.cancel();
    if (session_) session_->on_closed();
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
}

template class WsSession<PlainStream>;
template class WsSession<TlsStream>;

}  // namespace natter::transport
