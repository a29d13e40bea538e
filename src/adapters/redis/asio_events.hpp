#pragma once
// hiredis' event hooks on Asio: what hiredis' adapters/libevent.h does for
// libevent. hiredis calls addRead/addWrite when it wants the socket to be
// readable/writable and we call redisAsyncHandleRead/Write when it is, on
// the io_context's thread, through stream_descriptor::async_wait. An
// async_wait re-arms epoll (EPOLL_CTL_MOD), so readiness already there when
// it starts is reported too and nothing is left unread in the socket.
//
// Lifetime: hiredis owns the socket and the context; it calls `cleanup`
// right before it frees them (possibly from inside redisAsyncHandleRead, so
// the handler that called it keeps this object alive until it returns).
// detach() stops driving the context early (before we free it ourselves).
// Internal to the Redis adapter: includes Asio and hiredis.
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <hiredis/async.h>

namespace natter::redis {

class AsioEvents : public std::enable_shared_from_this<AsioEvents> {
public:
    // Installs the hooks on `ac` (which must have none yet).
    static std::shared_ptr<AsioEvents> attach(redisAsyncContext* ac, boost::asio::io_context& io);
    // Stops waiting on the socket and calling into `ac`; idempotent. The
    // socket stays open (hiredis closes it when it frees the context).
    void detach();

    AsioEvents(redisAsyncContext* ac, boost::asio::io_context& io);

private:
    static void add_read(void* p);
    static void del_read(void* p);
    static void add_write(void* p);
    static void del_write(void* p);
    static void cleanup(void* p);
    void wait_read();
    void wait_write();

    redisAsyncContext* ac_;
    boost::asio::posix::stream_descriptor socket_;
    bool reading_ = false, writing_ = false;            // what hiredis wants
    bool read_waiting_ = false, write_waiting_ = false;  // an async_wait in flight
    std::shared_ptr<AsioEvents> self_;                  // hiredis' reference, until cleanup
};

}  // namespace natter::redis
