#pragma once
// One hiredis async connection to one Redis instance, driven on the I/O
// thread (AsioEvents), that keeps itself connected: a handshake (AUTH when
// configured, then PING) before it counts as up, reconnection with
// exponential backoff and jitter when it is lost, a connect timeout, and a
// watchdog that drops it when commands are outstanding and nothing has come
// back for command_timeout (a hung server), so every callback is called.
//
// Every method runs on the I/O thread, except is_up(). Commands are queued
// in hiredis' output buffer and written when the socket is writable, so the
// commands of one turn of the event loop go out together (pipelined).
// Internal to the Redis adapter: includes Asio and hiredis.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <hiredis/async.h>

namespace natter::redis {

class AsioEvents;

struct ConnectionSettings {
    std::string instance;  // its name on the ring, for logs
    std::string role;      // "subscriber" or "commands", for logs
    std::string host;
    std::uint16_t port = 0;
    std::string password;
    std::chrono::milliseconds connect_timeout{2000};
    std::chrono::milliseconds command_timeout{5000};
    std::chrono::milliseconds backoff_min{50};
    std::chrono::milliseconds backoff_max{2000};
};

class Connection {
public:
    // The reply, or nullptr when none will come (the connection was lost or
    // closed). Owned by hiredis: valid during the call only.
    using Reply = std::function<void(redisReply*)>;

    Connection(boost::asio::io_context& io, ConnectionSettings settings, std::atomic<std::uint64_t>& reconnects);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // Called on the I/O thread when the handshake is done / when the
    // connection is lost or a connect attempt failed (each time). Set before start().
    std::function<void()> on_up;
    std::function<void()> on_down;

    void start();
    // Frees the connection (outstanding callbacks get nullptr) and stops
    // reconnecting. Call it outside hiredis callbacks.
    void shutdown();

    bool up() const { return up_; }
    bool is_up() const { return up_flag_.load(std::memory_order_acquire); }  // any thread

    // Queues a command; false (and `done` is not called) when not up.
    bool command(const std::vector<std::string_view>& args, Reply done);
    // The same with a plain C callback: for the hot paths (PUBLISH, SUBSCRIBE)
    // that need no allocation per call. Callers that wait for a reply this
    // way say so with expect() and replied(), for the watchdog.
    bool command_raw(int argc, const char** argv, const std::size_t* lens, redisCallbackFn* fn, void* privdata);
    void expect(std::size_t replies);
    void replied();
    // Drops the connection after the current hiredis callback returns (a
    // protocol surprise seen from inside one); it reconnects.
    void drop_later(const std::string& why);

    const ConnectionSettings& settings() const { return settings_; }

private:
    static void on_connect(const redisAsyncContext* ac, int status);
    static void on_disconnect(const redisAsyncContext* ac, int status);
    static void on_reply(redisAsyncContext* ac, void* reply, void* privdata);
    void connect();
    void handshake();
    void went_up();
    void drop(const std::string& why);
    void lost(const std::string& why);
    void retry();
    void watch();
    bool send(const std::vector<std::string_view>& args, Reply done);

    boost::asio::io_context& io_;
    ConnectionSettings settings_;
    std::atomic<std::uint64_t>& reconnects_;
    redisAsyncContext* ac_ = nullptr;  // null when there is none (or it is being freed)
    std::shared_ptr<AsioEvents> events_;
    std::uint64_t generation_ = 0;     // one per connect attempt: stale timers and posts do nothing
    bool up_ = false;
    std::atomic<bool> up_flag_{false};
    bool stopped_ = false;
    bool ever_up_ = false;
    bool reported_down_ = false;       // logged since the last time it was up
    unsigned attempts_ = 0;            // failed attempts since the last time it was up
    std::string last_error_;
    std::size_t outstanding_ = 0;      // replies awaited (watchdog)
    std::chrono::steady_clock::time_point progress_;  // last reply, or when waiting began
    boost::asio::steady_timer retry_timer_;
    boost::asio::steady_timer connect_timer_;
    boost::asio::steady_timer watchdog_;
};

}  // namespace natter::redis
