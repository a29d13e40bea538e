#include "adapters/redis/asio_events.hpp"

namespace natter::redis {

namespace asio = boost::asio;

AsioEvents::AsioEvents(redisAsyncContext* ac, asio::io_context& io) : ac_(ac), socket_(io, ac->c.fd) {}

std::shared_ptr<AsioEvents> AsioEvents::attach(redisAsyncContext* ac, asio::io_context& io) {
    auto e = std::make_shared<AsioEvents>(ac, io);
    e->self_ = e;
    ac->ev.data = e.get();
    ac->ev.addRead = &AsioEvents::add_read;
    ac->ev.delRead = &AsioEvents::del_read;
    ac->ev.addWrite = &AsioEvents::add_write;
    ac->ev.delWrite = &AsioEvents::del_write;
    ac->ev.cleanup = &AsioEvents::cleanup;
    return e;
}

void AsioEvents::detach() {
    if (!ac_) return;
    // Later calls from hiredis find no hook; cleanup stays to drop self_.
    ac_->ev.addRead = nullptr;
    ac_->ev.delRead = nullptr;
    ac_->ev.addWrite = nullptr;
    ac_->ev.delWrite = nullptr;
    ac_ = nullptr;
    reading_ = writing_ = false;
    boost::system::error_code ignored;
    socket_.cancel(ignored);
    socket_.release();  // not close: the descriptor is hiredis'
}

void AsioEvents::add_read(void* p) {
    auto* e = static_cast<AsioEvents*>(p);
    e->reading_ = true;
    e->wait_read();
}

void AsioEvents::del_read(void* p) { static_cast<AsioEvents*>(p)->reading_ = false; }

void AsioEvents::add_write(void* p) {
    auto* e = static_cast<AsioEvents*>(p);
    e->writing_ = true;
    e->wait_write();
}

void AsioEvents::del_write(void* p) { static_cast<AsioEvents*>(p)->writing_ = false; }

void AsioEvents::cleanup(void* p) {
    auto* e = static_cast<AsioEvents*>(p);
    if (e->ac_) e->ac_->ev.cleanup = nullptr;
    e->detach();
    auto last = std::move(e->self_);  // may destroy `e` on return: nothing after
}

// One wait per direction at a time; a wait that completes after hiredis lost
// interest (del*) or after detach does nothing.
void AsioEvents::wait_read() {
    if (read_waiting_ || !ac_) return;
    read_waiting_ = true;
    socket_.async_wait(asio::posix::stream_descriptor::wait_read, [self = shared_from_this()](boost::system::error_code ec) {
        self->read_waiting_ = false;
        if (ec == asio::error::operation_aborted || !self->ac_ || !self->reading_) return;
        // Reads what is there and runs the reply callbacks; on EOF or an
        // error it frees the context (cleanup runs, ac_ becomes null).
        redisAsyncHandleRead(self->ac_);
        if (self->ac_ && self->reading_) self->wait_read();
    });
}

void AsioEvents::wait_write() {
    if (write_waiting_ || !ac_) return;
    write_waiting_ = true;
    socket_.async_wait(asio::posix::stream_descriptor::wait_write, [self = shared_from_this()](boost::system::error_code ec) {
        self->write_waiting_ = false;
        if (ec == asio::error::operation_aborted || !self->ac_ || !self->writing_) return;
        // The first writable event completes the connect (hiredis calls the
        // connect callback); later ones flush the pipelined commands.
        redisAsyncHandleWrite(self->ac_);
        if (self->ac_ && self->writing_) self->wait_write();
    });
}

}  // namespace natter::redis
