#include "adapters/redis/connection.hpp"

#include <algorithm>
#include <random>

#include <boost/asio/post.hpp>

#include "adapters/redis/asio_events.hpp"
#include "obs/log.hpp"

namespace natter::redis {

namespace asio = boost::asio;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

namespace {

struct PendingReply {
    Connection* connection;
    Connection::Reply done;
};

milliseconds backoff(const ConnectionSettings& s, unsigned attempt) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    const auto cap = std::max(s.backoff_min, s.backoff_max);
    auto d = s.backoff_min * (std::int64_t(1) << std::min(attempt, 20u));
    if (d > cap) d = cap;
    // Equal jitter: nodes that lost an instance together do not return together.
    const auto half = d.count() / 2;
    return milliseconds(half + std::uniform_int_distribution<std::int64_t>(0, d.count() - half)(rng));
}

std::string error_of(const redisAsyncContext* ac, const char* otherwise) {
    return ac->c.err && ac->c.errstr[0] ? std::string(ac->c.errstr) : std::string(otherwise);
}

}  // namespace

Connection::Connection(asio::io_context& io, ConnectionSettings settings, std::atomic<std::uint64_t>& reconnects)
    : io_(io),
      settings_(std::move(settings)),
      reconnects_(reconnects),
      retry_timer_(io),
      connect_timer_(io),
      watchdog_(io) {}

Connection::~Connection() = default;

void Connection::start() {
    connect();
    watch();
}

void Connection::shutdown() {
    stopped_ = true;
    retry_timer_.cancel();
    connect_timer_.cancel();
    watchdog_.cancel();
    if (!ac_) return;
    auto* ac = ac_;
    ac_ = nullptr;
    up_ = false;
    up_flag_.store(false, std::memory_order_release);
    events_->detach();
    events_.reset();
    redisAsyncFree(ac);  // outstanding callbacks get nullptr now
}

void Connection::connect() {
    if (stopped_) return;
    ++generation_;
    redisAsyncContext* ac = redisAsyncConnect(settings_.host.c_str(), settings_.port);
    if (!ac) return lost("cannot allocate a connection");
    if (ac->err) {
        auto why = error_of(ac, "connect failed");
        redisAsyncFree(ac);
        return lost(why);
    }
    redisEnableKeepAlive(&ac->c);  // a peer that vanished without a FIN is noticed
    ac->data = this;
    try {
        events_ = AsioEvents::attach(ac, io_);
    } catch (const std::exception& e) {
        redisAsyncFree(ac);
        return lost(e.what());
    }
    ac_ = ac;
    redisAsyncSetDisconnectCallback(ac, &Connection::on_disconnect);
    redisAsyncSetConnectCallback(ac, &Connection::on_connect);  // waits for writable: connected
    connect_timer_.expires_after(settings_.connect_timeout);
    connect_timer_.async_wait([this, gen = generation_](boost::system::error_code ec) {
        if (ec || gen != generation_ || up_ || !ac_) return;
        drop("no answer within " + std::to_string(settings_.connect_timeout.count()) + " ms of connecting");
    });
}

void Connection::on_connect(const redisAsyncContext* ac, int status) {
    auto* self = static_cast<Connection*>(ac->data);
    if (self->ac_ != ac) return;
    if (status != REDIS_OK) {
        // hiredis frees the context when this returns.
        self->ac_ = nullptr;
        self->events_.reset();
        return self->lost(error_of(ac, "connect failed"));
    }
    self->handshake();
}

void Connection::on_disconnect(const redisAsyncContext* ac, int status) {
    auto* self = static_cast<Connection*>(ac->data);
    if (self->ac_ != ac) return;  // we freed it ourselves: already handled
    self->ac_ = nullptr;
    self->events_.reset();
    self->lost(status == REDIS_OK ? std::string("closed") : error_of(ac, "connection lost"));
}

// AUTH when configured, then PING: up once PONG comes back.
void Connection::handshake() {
    auto auth_error = std::make_shared<std::string>();
    if (!settings_.password.empty())
        send({"AUTH", settings_.password}, [auth_error](redisReply* r) {
            if (r && r->type == REDIS_REPLY_ERROR) *auth_error = std::string(r->str, r->len);
        });
    send({"PING"}, [this, auth_error, gen = generation_](redisReply* r) {
        if (!r || gen != generation_) return;
        if (r->type == REDIS_REPLY_STATUS) return went_up();
        std::string why = !auth_error->empty() ? "AUTH refused: " + *auth_error
                          : r->type == REDIS_REPLY_ERROR ? std::string(r->str, r->len)
                                                          : "unexpected answer to PING";
        drop_later(why);
    });
}

void Connection::went_up() {
    connect_timer_.cancel();
    up_ = true;
    up_flag_.store(true, std::memory_order_release);
    if (ever_up_) reconnects_.fetch_add(1, std::memory_order_relaxed);
    log_event(LogLevel::info, ever_up_ ? "redis.reconnected" : "redis.connected",
              {{"instance", settings_.instance}, {"role", settings_.role}, {"host", settings_.host},
               {"port", settings_.port}, {"failed_attempts", attempts_}});
    ever_up_ = true;
    attempts_ = 0;
    reported_down_ = false;
    last_error_.clear();
    if (on_up) on_up();
}

void Connection::drop(const std::string& why) {
    if (!ac_) return;
    auto* ac = ac_;
    ac_ = nullptr;
    events_->detach();
    events_.reset();
    lost(why);
    redisAsyncFree(ac);  // outstanding callbacks get nullptr now
}

void Connection::drop_later(const std::string& why) {
    asio::post(io_, [this, gen = generation_, why] {
        if (gen == generation_) drop(why);
    });
}

void Connection::lost(const std::string& why) {
    const bool was_up = up_;
    up_ = false;
    up_flag_.store(false, std::memory_order_release);
    outstanding_ = 0;
    connect_timer_.cancel();
    // One line per transition: up -> down, or the first failure since up.
    if (!stopped_ && (was_up || !reported_down_))
        log_event(LogLevel::warn, was_up ? "redis.disconnected" : "redis.unreachable",
                  {{"instance", settings_.instance}, {"role", settings_.role}, {"host", settings_.host},
                   {"port", settings_.port}, {"error", why}});
    reported_down_ = true;
    last_error_ = why;
    if (on_down) on_down();
    retry();
}

void Connection::retry() {
    if (stopped_) return;
    retry_timer_.expires_after(backoff(settings_, attempts_++));
    retry_timer_.async_wait([this](boost::system::error_code ec) {
        if (!ec) connect();
    });
}

// Drops a connection whose server stopped answering: hiredis has no timeout
// of its own on the async API, and a paused or wedged server keeps TCP up.
void Connection::watch() {
    if (stopped_) return;
    watchdog_.expires_after(std::clamp(settings_.command_timeout / 4, milliseconds(50), milliseconds(1000)));
    watchdog_.async_wait([this](boost::system::error_code ec) {
        if (ec) return;
        if (up_ && outstanding_ > 0 && Clock::now() - progress_ > settings_.command_timeout)
            drop("no reply within " + std::to_string(settings_.command_timeout.count()) + " ms");
        watch();
    });
}

void Connection::expect(std::size_t replies) {
    if (outstanding_ == 0) progress_ = Clock::now();
    outstanding_ += replies;
}

void Connection::replied() {
    if (outstanding_ > 0) --outstanding_;
    progress_ = Clock::now();
}

bool Connection::command(const std::vector<std::string_view>& args, Reply done) {
    return up_ && send(args, std::move(done));
}

bool Connection::send(const std::vector<std::string_view>& args, Reply done) {
    if (!ac_) return false;
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    argv.reserve(args.size());
    lens.reserve(args.size());
    for (auto a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
    auto* pending = new PendingReply{this, std::move(done)};
    if (redisAsyncCommandArgv(ac_, &Connection::on_reply, pending, int(argv.size()), argv.data(), lens.data()) != REDIS_OK) {
        delete pending;
        return false;
    }
    expect(1);
    return true;
}

bool Connection::command_raw(int argc, const char** argv, const std::size_t* lens, redisCallbackFn* fn, void* privdata) {
    return up_ && ac_ && redisAsyncCommandArgv(ac_, fn, privdata, argc, argv, lens) == REDIS_OK;
}

void Connection::on_reply(redisAsyncContext*, void* reply, void* privdata) {
    std::unique_ptr<PendingReply> pending(static_cast<PendingReply*>(privdata));
    auto* r = static_cast<redisReply*>(reply);
    if (r) pending->connection->replied();
    // Never let an exception unwind through hiredis' C frames.
    try {
        pending->done(r);
    } catch (const std::exception& e) {
        log_event(LogLevel::error, "redis.callback_failed",
                  {{"instance", pending->connection->settings_.instance}, {"error", e.what()}});
    }
}

}  // namespace natter::redis
