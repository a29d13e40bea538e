#include "bench/direct.hpp"
#include "bench/send_frames.hpp"

#include "bench/frame_scan.hpp"
#include "bench/ws_conn.hpp"

#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>

namespace natter::bench {

namespace {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

std::uint64_t now_ns() {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count());
}

std::uint64_t ns_between(Clock::time_point a, Clock::time_point b) {
    return b > a ? static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count()) : 0;
}

template <class T>
std::optional<std::uint64_t> to_uint(T s) {
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    return v;
}

// Open-loop sends skip a socket whose queue is this deep rather than grow without bound.
constexpr std::size_t kMaxQueuedFrames = 4096;
constexpr std::size_t kMaxErrorExamples = 5;
// --reconnect: a socket that receives nothing for this long (pinged at half) is dropped and reconnected.
constexpr auto kIdleTimeout = 10s;

using Conn = WsConn;

// One send of the run, by its number n: the frame's `id` and the tail of its
// client_msg_id; the body is "nb <first send, steady ns> <n>", so a retry
// (same client_msg_id, same body) is the same message to natterd.
struct Msg {
    std::uint64_t sent_ns = 0;   // first issued
    std::uint64_t seq = 0;       // from its `sent` (--verify)
    std::uint32_t sender = 0;    // the sender's slot
    std::uint32_t attempts = 0;  // times written
    bool written = false;        // written on the sender's current socket, not answered there yet
    bool answered = false;       // its `sent` came
    bool delivered = false;      // the peer got it (first arrival)
    bool failed = false;         // refused for good: owed to nobody
    bool refused = false;        // refused with `unavailable`/`rate_limited`, not yet through
};

// A user's place in the run: its current socket (replaced on a reconnect)
// and, for a sender, the sends it still owes an answer for.
struct Slot {
    explicit Slot(net::io_context& ioc) : reconnect_timer(ioc), retry_timer(ioc) {}
    std::shared_ptr<Conn> conn;
    // A sender (even slot):
    std::deque<std::uint64_t> outbox;  // sends without a `sent` (nor refused), in send order (lazily popped)
    std::uint64_t unwritten = 0;       // of them, not written on the current socket (retries first)
    std::uint64_t outstanding = 0;     // of them, written on the current socket and not answered there
    std::uint64_t in_flight = 0;       // issued, neither delivered to the peer nor refused: the pair's owed
    Clock::time_point stall_from{};    // the pair's last delivery, or when something became owed
    Clock::time_point hold_until{};    // after a retryable error: no writes before
    // Sends refused with a retryable error and not through yet. While there
    // are any, the sender probes: one send at a time (the oldest), each once
    // the socket has nothing else unanswered; then the rest. Keeps its order
    // and its frame budget.
    std::uint64_t refused = 0;
    Backoff retry_backoff;             // for an `unavailable` without retry_after_ms
    // Every slot:
    Backoff backoff;                   // reconnect attempts
    net::steady_timer reconnect_timer, retry_timer;
    Clock::time_point down_since{};
    bool down = false;                 // ended; a successor is on its way
    bool abandoned = false;            // ended for good
    bool was_ready = false;            // its first socket reached sync_done
};

class Run final : public WsHost {
public:
    explicit Run(const DirectOptions& o);
    RunResult execute();

    const BenchUser& user_of(const Conn& c) const override { return opt.users[c.index()]; }
    void on_failed(Conn& c, const std::string& why) override;
    void on_ended(Conn& c) override;
    void on_frame(Conn& c, std::string_view text) override;
    void ack_pending(Conn& c) override { dirty_.push_back(c.index()); }

private:
    enum class Phase { connecting, measuring, draining, closing };
    bool closed_loop() const { return opt.rate <= 0; }
    bool current(const Conn& c) const { return slots_[c.index()].conn.get() == &c; }
    bool writable(const Slot& s) const {
        return phase_ != Phase::closing && s.conn && s.conn->ready && !s.conn->ended && !s.down &&
               (s.hold_until == Clock::time_point{} || Clock::now() >= s.hold_until);
    }
    std::string who(std::size_t i) const { return "socket " + std::to_string(i) + " (" + opt.users[i].username + ")"; }

    void launch_next();
    void on_ready(Conn& c);
    void start_measuring();
    void issue(std::size_t i);
    void write(std::size_t i, std::uint64_t n);
    void flush(std::size_t i);
    void pump(std::size_t i);
    void pop_answered(Slot& s);
    void hold(std::size_t i, std::chrono::milliseconds d);
    void unwrite_all(std::size_t i);
    void schedule_reconnect(std::size_t i);
    void reconnect(std::size_t i);
    void abandon(std::size_t i, const std::string& why);
    void note_disconnect(const std::string& what);
    std::optional<std::uint64_t> answered_msg(std::size_t i, std::string_view text);
    void tick_rate();
    void tick_acks();
    void tick_progress();
    void end_window();
    void check_drained();
    void finish();
    void maybe_stop();
    void on_message(Conn& c, std::string_view text);
    void on_sent(Conn& c, std::string_view text);
    void on_error(Conn& c, std::string_view text);
    void end_stall(std::size_t sender, Clock::time_point now);

    const DirectOptions& opt;
    std::deque<Slot> slots_;
    std::vector<Msg> msgs_;
    SendFrames frames_;
    RunResult result;
    Phase phase_ = Phase::connecting;
    std::uint64_t run_start_ns_ = now_ns();
    std::size_t launched_ = 0, connecting_ = 0, ready_ = 0;
    std::string setup_error_;
    std::vector<std::size_t> senders_;
    std::vector<std::size_t> dirty_;
    Clock::time_point connect_start_, window_start_, window_end_, next_tick_, last_progress_;
    std::uint64_t issued_ = 0;
    std::uint64_t undelivered_ = 0, unanswered_ = 0;  // over every sender
    std::uint64_t last_sends_ = 0, last_delivered_ = 0;
    Histogram interval_;
    Checker checker_;
    std::mt19937_64 rng_{std::random_device{}()};
    net::steady_timer connect_timer_{ioc}, rate_timer_{ioc}, ack_timer_{ioc}, progress_timer_{ioc}, end_timer_{ioc},
        drain_timer_{ioc}, close_timer_{ioc};
};

// ---- Run ----

Run::Run(const DirectOptions& o) : opt(o) {
    source_ips = o.source_ips;
    ack_batch = o.ack_batch;
    if (o.reconnect) idle_timeout = kIdleTimeout;
}

RunResult Run::execute() {
    std::uint64_t pairs = opt.users.size() / 2;
    if (opt.pairs) pairs = std::min(pairs, opt.pairs);
    if (pairs == 0) throw std::runtime_error("direct needs at least 2 users");
    if (opt.rate <= 0 && opt.window == 0) throw std::runtime_error("--window must be at least 1 in closed loop");
    target = tcp::endpoint(net::ip::make_address(opt.host), opt.port);
    host_header = opt.host + ":" + std::to_string(opt.port);
    result.scenario = "direct";
    result.target = host_header;
    result.mode = closed_loop() ? "closed" : "open";
    result.window = closed_loop() ? opt.window : 0;
    result.rate = opt.rate;
    result.pairs = pairs;
    result.connections = pairs * 2;
    result.reconnect = opt.reconnect;
    for (std::size_t i = 0; i < pairs * 2; ++i) {
        slots_.emplace_back(ioc);
        slots_.back().conn = std::make_shared<Conn>(*this, i);
        if (i % 2 == 0) senders_.push_back(i);
    }
    connect_start_ = Clock::now();
    for (std::size_t i = 0; i < opt.max_connecting; ++i) launch_next();
    connect_timer_.expires_after(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.connect_timeout_s)));
    connect_timer_.async_wait([this](beast::error_code ec) {
        if (ec || phase_ != Phase::connecting) return;
        setup_error_ = "only " + std::to_string(ready_) + " of " + std::to_string(slots_.size()) +
                       " sockets connected and synced within " + std::to_string(opt.connect_timeout_s) + " s";
        ioc.stop();
    });
    ioc.run();
    if (!setup_error_.empty()) throw std::runtime_error(setup_error_);
    result.ack_frames = ack_frames;
    result.undelivered = undelivered_;
    if (opt.verify) {
        result.check = checker_.check();
        // Each sender's sends should commit in the order it sent them; a
        // send refused with `unavailable` while later ones were in flight
        // can legitimately commit after them (retried), so this is reported, not failed.
        std::vector<std::uint64_t> last(slots_.size(), 0);
        for (const auto& m : msgs_) {
            if (!m.answered || m.seq == 0) continue;
            if (m.seq <= last[m.sender]) ++result.send_order_violations;
            else last[m.sender] = m.seq;
        }
    }
    return std::move(result);
}

void Run::launch_next() {
    if (launched_ >= slots_.size() || !setup_error_.empty()) return;
    ++connecting_;
    slots_[launched_++].conn->start();
}

void Run::on_ready(Conn& c) {
    auto i = c.index();
    auto& s = slots_[i];
    s.down = false;
    s.backoff.reset();
    if (!s.was_ready) {
        s.was_ready = true;
        --connecting_;
        ++ready_;
        launch_next();
        if (ready_ == slots_.size() && phase_ == Phase::connecting) start_measuring();
        return;
    }
    ++result.reconnects;
    result.longest_down_ns = std::max(result.longest_down_ns, ns_between(s.down_since, Clock::now()));
    if (i % 2 == 0) {
        flush(i);  // the sends the old socket left unanswered, in order, before any new one
        pump(i);
    }
}

void Run::start_measuring() {
    connect_timer_.cancel();
    phase_ = Phase::measuring;
    window_start_ = last_progress_ = next_tick_ = Clock::now();
    result.connect_s = seconds_between(connect_start_, window_start_);
    if (closed_loop())
        for (auto i : senders_) pump(i);
    else
        tick_rate();
    tick_acks();
    progress_timer_.expires_at(window_start_ + 1s);
    progress_timer_.async_wait([this](beast::error_code ec) { if (!ec) tick_progress(); });
    end_timer_.expires_at(window_start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.duration_s)));
    end_timer_.async_wait([this](beast::error_code ec) { if (!ec) end_window(); });
}

// ---- sends ----

void Run::issue(std::size_t i) {
    auto& s = slots_[i];
    std::uint64_t n = msgs_.size();
    Msg m;
    m.sent_ns = now_ns();
    m.sender = static_cast<std::uint32_t>(i);
    msgs_.push_back(m);
    s.outbox.push_back(n);
    if (s.in_flight++ == 0) s.stall_from = Clock::now();
    ++undelivered_;
    ++unanswered_;
    if (phase_ == Phase::measuring) ++result.sends;
    if (s.unwritten == 0 && !s.refused && writable(s)) write(i, n);
    else ++s.unwritten;
}

void Run::write(std::size_t i, std::uint64_t n) {
    auto& m = msgs_[n];
    m.written = true;
    ++slots_[i].outstanding;
    if (m.attempts++) ++result.retries;
    const auto& peer = opt.users[i + 1];
    slots_[i].conn->write(frames_.frame(n, peer.user_id, "nb " + std::to_string(m.sent_ns) + " " + std::to_string(n)));
}

// Writes the sends of the outbox not written on the current socket, oldest
// first: all of them, or while probing the oldest alone once nothing else is
// unanswered.
void Run::flush(std::size_t i) {
    auto& s = slots_[i];
    pop_answered(s);
    if (s.unwritten == 0 || !writable(s) || (s.refused && s.outstanding)) return;
    for (auto n : s.outbox) {
        auto& m = msgs_[n];
        if (m.answered || m.failed || m.written) continue;
        write(i, n);
        if (--s.unwritten == 0 || s.refused) break;
    }
}

void Run::pump(std::size_t i) {
    auto& s = slots_[i];
    if (!closed_loop()) return;
    while (phase_ == Phase::measuring && !s.abandoned && s.in_flight < opt.window) issue(i);
}

void Run::pop_answered(Slot& s) {
    while (!s.outbox.empty() && (msgs_[s.outbox.front()].answered || msgs_[s.outbox.front()].failed)) s.outbox.pop_front();
}

// A retryable error: nothing more is written on this sender until `d` passed; then its retries, then new sends.
void Run::hold(std::size_t i, std::chrono::milliseconds d) {
    auto& s = slots_[i];
    auto until = Clock::now() + d;
    if (until <= s.hold_until) return;
    s.hold_until = until;
    s.retry_timer.expires_at(until);
    s.retry_timer.async_wait([this, i](beast::error_code ec) {
        if (ec || phase_ == Phase::closing) return;
        flush(i);
        pump(i);
    });
}

// The sender's socket ended: what it wrote and got no answer for is written again on the next one.
void Run::unwrite_all(std::size_t i) {
    auto& s = slots_[i];
    for (auto n : s.outbox) {
        auto& m = msgs_[n];
        if (m.written && !m.answered && !m.failed) {
            m.written = false;
            ++s.unwritten;
        }
    }
    s.outstanding = 0;
}

// ---- sockets ----

void Run::note_disconnect(const std::string& what) {
    if (result.disconnect_examples.size() < kMaxErrorExamples) result.disconnect_examples.push_back(what);
}

void Run::schedule_reconnect(std::size_t i) {
    auto& s = slots_[i];
    if (!s.down) {
        s.down = true;
        s.down_since = Clock::now();
    }
    s.reconnect_timer.expires_after(s.backoff.next(rng_()));
    s.reconnect_timer.async_wait([this, i](beast::error_code ec) { if (!ec) reconnect(i); });
}

void Run::reconnect(std::size_t i) {
    if (phase_ == Phase::closing) return;
    auto& s = slots_[i];
    // Same credentials (the users file's bearer token); the inbox's unacked rows come again.
    if (opt.verify) checker_.on_reconnect(opt.users[i].device_id);
    s.conn = std::make_shared<Conn>(*this, i);
    s.conn->start();
}

void Run::abandon(std::size_t i, const std::string& why) {
    auto& s = slots_[i];
    if (s.abandoned) return;
    s.abandoned = true;
    s.down = false;
    if (opt.reconnect) {
        ++result.abandoned;
        note_disconnect(who(i) + ": given up: " + why);
    }
}

void Run::on_failed(Conn& c, const std::string& why) {
    if (!current(c)) return;
    auto i = c.index();
    if (phase_ == Phase::closing) return maybe_stop();
    if (opt.reconnect && reconnect_after_handshake(c.http_status)) {
        ++result.reconnect_failures;
        return schedule_reconnect(i);
    }
    if (phase_ == Phase::connecting && !slots_[i].was_ready) {
        if (!setup_error_.empty()) return;
        setup_error_ = who(i) + ": " + why;
        ioc.stop();
        return;
    }
    abandon(i, why);
}

void Run::on_ended(Conn& c) {
    if (!current(c)) return;
    auto i = c.index();
    if (phase_ == Phase::closing) return maybe_stop();
    if (!opt.reconnect && phase_ == Phase::connecting && !c.ready) return on_failed(c, "closed during the handshake");
    ++result.disconnects;
    note_disconnect(who(i) + ": " + c.how_ended() + (c.ready ? "" : " before sync_done"));
    if (i % 2 == 0) unwrite_all(i);
    if (opt.reconnect && reconnect_after_close(c.close_code)) {
        if (!c.ready) ++result.reconnect_failures;
        return schedule_reconnect(i);
    }
    abandon(i, c.how_ended());
}

void Run::maybe_stop() {
    for (const auto& s : slots_)
        if (s.conn && !s.conn->ended) return;
    close_timer_.cancel();
    ioc.stop();
}

// ---- timers ----

void Run::tick_rate() {
    if (phase_ != Phase::measuring) return;
    auto target_count = static_cast<std::uint64_t>(opt.rate * seconds_between(window_start_, Clock::now()));
    for (; issued_ < target_count; ++issued_) {
        auto i = senders_[issued_ % senders_.size()];
        auto& s = slots_[i];
        if (s.abandoned) continue;
        if (s.outbox.size() >= kMaxQueuedFrames || s.conn->queued() >= kMaxQueuedFrames) {
            ++result.backlog_skips;
            continue;
        }
        issue(i);
    }
    next_tick_ += 1ms;
    rate_timer_.expires_at(next_tick_);
    rate_timer_.async_wait([this](beast::error_code ec) { if (!ec) tick_rate(); });
}

void Run::tick_acks() {
    auto dirty = std::move(dirty_);
    dirty_.clear();
    for (auto i : dirty) slots_[i].conn->flush_acks();
    if (phase_ == Phase::closing) return;
    ack_timer_.expires_after(20ms);
    ack_timer_.async_wait([this](beast::error_code ec) { if (!ec) tick_acks(); });
}

void Run::tick_progress() {
    auto now = Clock::now();
    double dt = seconds_between(last_progress_, now);
    last_progress_ = now;
    if (opt.progress && dt > 0) {
        std::size_t down = 0;
        for (const auto& s : slots_) down += s.down;
        std::fprintf(stderr, "natter-bench: %5.1fs%s  sends %8.0f/s  delivered %8.0f/s  p50 %7.3f ms  p99 %7.3f ms  in flight %llu  errors %llu",
                     seconds_between(window_start_, now), phase_ == Phase::draining ? " drain" : "",
                     (result.sends - last_sends_) / dt, (result.delivered_total - last_delivered_) / dt,
                     interval_.percentile(50) / 1e6, interval_.percentile(99) / 1e6,
                     static_cast<unsigned long long>(undelivered_), static_cast<unsigned long long>(result.errors));
        if (opt.reconnect)
            std::fprintf(stderr, "  reconnects %llu  retries %llu  down %zu",
                         static_cast<unsigned long long>(result.reconnects), static_cast<unsigned long long>(result.retries), down);
        std::fprintf(stderr, "\n");
    }
    last_sends_ = result.sends;
    last_delivered_ = result.delivered_total;
    interval_ = Histogram{};
    if (phase_ != Phase::measuring && phase_ != Phase::draining) return;
    progress_timer_.expires_at(progress_timer_.expiry() + 1s);
    progress_timer_.async_wait([this](beast::error_code ec) { if (!ec) tick_progress(); });
}

void Run::end_window() {
    window_end_ = Clock::now();
    result.duration_s = seconds_between(window_start_, window_end_);
    phase_ = Phase::draining;
    rate_timer_.cancel();
    drain_timer_.expires_after(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.drain_s)));
    drain_timer_.async_wait([this](beast::error_code ec) { if (!ec) finish(); });
    check_drained();
}

void Run::check_drained() {
    if (phase_ != Phase::draining || undelivered_ || unanswered_) return;
    result.drained = true;
    finish();
}

void Run::finish() {
    if (phase_ == Phase::closing) return;
    auto now = Clock::now();
    // A pair still owed something when the run ends stalled until now.
    for (auto i : senders_)
        if (slots_[i].in_flight) end_stall(i, now);
    phase_ = Phase::closing;
    connect_timer_.cancel();
    rate_timer_.cancel();
    end_timer_.cancel();
    progress_timer_.cancel();
    drain_timer_.cancel();
    ack_timer_.cancel();
    for (auto& s : slots_) {
        s.reconnect_timer.cancel();
        s.retry_timer.cancel();
    }
    close_timer_.expires_after(5s);
    close_timer_.async_wait([this](beast::error_code ec) { if (!ec) ioc.stop(); });
    for (auto& s : slots_) {
        if (!s.conn || s.conn->ended) continue;
        if (s.conn->upgraded) s.conn->close();  // flushes pending acks first
        else s.conn->abort();                  // a reconnect still in its connect or handshake
    }
    maybe_stop();
}

// ---- frames ----

void Run::on_frame(Conn& c, std::string_view text) {
    if (!current(c)) return;
    auto type = frame_type(text);
    if (!type) return;
    if (*type == "message") return on_message(c, text);
    if (*type == "sent") return on_sent(c, text);
    if (*type == "error") return on_error(c, text);
    if (*type == "sync_done" && !c.ready) {
        c.ready = true;
        on_ready(c);
    }
}

void Run::end_stall(std::size_t sender, Clock::time_point now) {
    auto& s = slots_[sender];
    auto stall = ns_between(s.stall_from, now);
    if (stall > result.longest_stall_ns) {
        result.longest_stall_ns = stall;
        result.longest_stall_pair = sender / 2;
        result.longest_stall_from_s = s.stall_from > window_start_ ? seconds_between(window_start_, s.stall_from) : 0;
    }
    s.stall_from = now;
}

void Run::on_message(Conn& c, std::string_view text) {
    auto mid = scan_string(text, "message_id");
    if (!mid) return;
    c.add_ack(*mid);
    if (opt.verify) {
        auto conv = scan_string(text, "conversation_id");
        auto prev = scan_string(text, "prev_message_id");
        auto seq = scan_uint(text, "seq");
        checker_.on_message(opt.users[c.index()].device_id, std::string(*mid), std::string(conv.value_or("")),
                            seq.value_or(0), std::string(prev.value_or("")));
    }
    // Only this run's messages, from the paired sender, count: "nb <ns> <n>".
    auto body = scan_string(text, "body").value_or("");
    std::optional<std::uint64_t> sent_ns, n;
    if (body.substr(0, 3) == "nb ") {
        body.remove_prefix(3);
        auto space = body.find(' ');
        if (space != std::string_view::npos) {
            sent_ns = to_uint(body.substr(0, space));
            n = to_uint(body.substr(space + 1));
        }
    }
    auto i = c.index();
    if (i % 2 == 0 || !sent_ns || !n || *sent_ns < run_start_ns_ || *n >= msgs_.size() || msgs_[*n].sender != i - 1) {
        ++result.stale;
        return;
    }
    auto& m = msgs_[*n];
    if (m.delivered) return;  // again on a later connection: the checker judges it
    m.delivered = true;
    ++result.delivered_total;
    auto now = Clock::now();
    auto lat = now_ns() - m.sent_ns;
    result.max_delivery_ns = std::max(result.max_delivery_ns, lat);
    auto sender = i - 1;
    if (!m.failed) {
        end_stall(sender, now);
        --slots_[sender].in_flight;
        --undelivered_;
    }
    if (phase_ == Phase::measuring) {
        ++result.delivered;
        result.latency.record(lat);
        interval_.record(lat);
        pump(sender);
    }
    check_drained();
}

// The send a `sent` or `error` answers, if it is one this sender has written and not seen answered.
std::optional<std::uint64_t> Run::answered_msg(std::size_t i, std::string_view text) {
    auto id = scan_string(text, "id");
    if (!id || i % 2) return std::nullopt;
    auto n = to_uint(*id);
    if (!n || *n >= msgs_.size()) return std::nullopt;
    const auto& m = msgs_[*n];
    if (m.sender != i || !m.written || m.answered || m.failed) return std::nullopt;
    return n;
}

void Run::on_sent(Conn& c, std::string_view text) {
    ++result.sent_ok;
    auto i = c.index();
    auto n = answered_msg(i, text);
    if (!n) return;
    auto& m = msgs_[*n];
    auto& s = slots_[i];
    m.written = false;
    m.answered = true;
    --s.outstanding;
    if (m.refused) {
        m.refused = false;
        --s.refused;
    }
    --unanswered_;
    s.retry_backoff.reset();
    if (opt.verify) {
        auto mid = scan_string(text, "message_id");
        auto conv = scan_string(text, "conversation_id");
        m.seq = scan_uint(text, "seq").value_or(0);
        if (mid) checker_.on_sent(opt.users[i + 1].device_id, std::string(*mid), std::string(conv.value_or("")), m.seq);
    }
    pop_answered(s);
    flush(i);  // the next probe, or once every refused send is through the rest
    check_drained();
}

void Run::on_error(Conn& c, std::string_view text) {
    ++result.errors;
    if (result.error_examples.size() < kMaxErrorExamples) result.error_examples.emplace_back(text);
    auto i = c.index();
    auto n = answered_msg(i, text);
    if (!n) return check_drained();
    auto& m = msgs_[*n];
    auto& s = slots_[i];
    m.written = false;
    --s.outstanding;
    auto code = scan_string(text, "code").value_or("");
    if (opt.reconnect && (code == "unavailable" || code == "rate_limited")) {
        // Written again, same client_msg_id, after retry_after_ms (or a backoff), before any new send.
        ++result.retryable_errors;
        ++s.unwritten;
        if (!m.refused) {
            m.refused = true;
            ++s.refused;
        }
        auto after = scan_uint(text, "retry_after_ms");
        hold(i, after ? std::chrono::milliseconds(*after) : s.retry_backoff.next(rng_()));
        flush(i);  // the probe, if the hold is already over and nothing else is unanswered
        return;
    }
    // Refused for good: that message will never arrive.
    if (m.refused) {
        m.refused = false;
        --s.refused;
    }
    m.failed = true;
    --unanswered_;
    if (!m.delivered) {
        --s.in_flight;
        --undelivered_;
        if (s.in_flight == 0) s.stall_from = Clock::now();
    }
    pop_answered(s);
    flush(i);  // a probe may wait for this answer
    if (phase_ == Phase::measuring) pump(i);
    check_drained();
}

}  // namespace

RunResult run_direct(const DirectOptions& options) {
    Run run(options);
    return run.execute();
}

}  // namespace natter::bench
