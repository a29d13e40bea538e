#include "bench/direct.hpp"
#include "bench/send_frames.hpp"

#include "bench/frame_scan.hpp"
#include "bench/ws_conn.hpp"

#include <boost/asio/steady_timer.hpp>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <deque>
#include <memory>
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


// Open-loop sends skip a socket whose queue is this deep rather than grow without bound.
constexpr std::size_t kMaxQueuedFrames = 4096;
constexpr std::size_t kMaxErrorExamples = 5;

using Conn = WsConn;

class Run final : public WsHost {
public:
    explicit Run(const DirectOptions& o);
    RunResult execute();

    // From the connections.
    void on_ready(Conn& c);
    const BenchUser& user_of(const Conn& c) const override { return opt.users[c.index()]; }
    void on_failed(Conn& c, const std::string& why) override;
    void on_ended(Conn& c) override;
    void on_frame(Conn& c, std::string_view text) override;
    void ack_pending(Conn& c) override { dirty_.push_back(c.index()); }
    void send_message(Conn& c);
    void pump(Conn& c);

    const DirectOptions& opt;
    std::vector<std::shared_ptr<Conn>> conns;
    bool closed_loop() const { return opt.rate <= 0; }
    bool measuring() const { return phase_ == Phase::measuring; }
    bool sending() const { return phase_ == Phase::measuring; }
    std::uint64_t next_message = 0;
    SendFrames frames_;
    RunResult result;
    std::uint64_t total_in_flight = 0, total_unanswered = 0;

private:
    enum class Phase { connecting, measuring, draining, closing };
    void launch_next();
    void start_measuring();
    void tick_rate();
    void tick_acks();
    void tick_progress();
    void end_window();
    void check_drained();
    void finish();
    void on_message(Conn& c, std::string_view text);
    void on_sent(Conn& c, std::string_view text);
    void on_error(Conn& c, std::string_view text);

    Phase phase_ = Phase::connecting;
    std::uint64_t run_start_ns_ = now_ns();
    std::size_t launched_ = 0, connecting_ = 0, ready_ = 0, ended_ = 0;
    std::string setup_error_;
    std::vector<std::size_t> senders_;
    std::vector<std::size_t> dirty_;
    Clock::time_point connect_start_, window_start_, window_end_, next_tick_, last_progress_;
    std::uint64_t issued_ = 0;
    std::uint64_t last_sends_ = 0, last_delivered_ = 0;
    Histogram interval_;
    Checker checker_;
    net::steady_timer connect_timer_{ioc}, rate_timer_{ioc}, ack_timer_{ioc}, progress_timer_{ioc}, end_timer_{ioc},
        drain_timer_{ioc}, close_timer_{ioc};
};

// ---- Run ----

void Run::send_message(Conn& c) {
    const auto& peer = opt.users[c.index() + 1];
    auto f = frames_.frame(next_message++, peer.user_id, "nb " + std::to_string(now_ns()));
    ++c.in_flight;
    ++c.unanswered;
    ++total_in_flight;
    ++total_unanswered;
    if (measuring()) ++result.sends;
    c.write(std::move(f));
}

void Run::pump(Conn& c) {
    while (sending() && !c.ended && c.in_flight < opt.window) send_message(c);
}


Run::Run(const DirectOptions& o) : opt(o) {
    source_ips = o.source_ips;
    ack_batch = o.ack_batch;
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
    for (std::size_t i = 0; i < pairs * 2; ++i) {
        conns.push_back(std::make_shared<Conn>(*this, i));
        if (i % 2 == 0) senders_.push_back(i);
    }
    connect_start_ = Clock::now();
    for (std::size_t i = 0; i < opt.max_connecting; ++i) launch_next();
    connect_timer_.expires_after(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.connect_timeout_s)));
    connect_timer_.async_wait([this](beast::error_code ec) {
        if (ec || phase_ != Phase::connecting) return;
        setup_error_ = "only " + std::to_string(ready_) + " of " + std::to_string(conns.size()) +
                       " sockets connected and synced within " + std::to_string(opt.connect_timeout_s) + " s";
        ioc.stop();
    });
    ioc.run();
    if (!setup_error_.empty()) throw std::runtime_error(setup_error_);
    result.ack_frames = ack_frames;
    if (opt.verify) result.check = checker_.check();
    return std::move(result);
}

void Run::launch_next() {
    if (launched_ >= conns.size() || !setup_error_.empty()) return;
    ++connecting_;
    conns[launched_++]->start();
}

void Run::on_ready(Conn&) {
    --connecting_;
    ++ready_;
    launch_next();
    if (ready_ == conns.size() && phase_ == Phase::connecting) start_measuring();
}

void Run::on_failed(Conn& c, const std::string& why) {
    if (!setup_error_.empty()) return;
    setup_error_ = "socket " + std::to_string(c.index()) + " (" + opt.users[c.index()].username + "): " + why;
    ioc.stop();
}

void Run::start_measuring() {
    connect_timer_.cancel();
    phase_ = Phase::measuring;
    window_start_ = last_progress_ = next_tick_ = Clock::now();
    result.connect_s = seconds_between(connect_start_, window_start_);
    if (closed_loop())
        for (auto i : senders_) pump(*conns[i]);
    else
        tick_rate();
    tick_acks();
    progress_timer_.expires_at(window_start_ + 1s);
    progress_timer_.async_wait([this](beast::error_code ec) { if (!ec) tick_progress(); });
    end_timer_.expires_at(window_start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.duration_s)));
    end_timer_.async_wait([this](beast::error_code ec) { if (!ec) end_window(); });
}

void Run::tick_rate() {
    if (phase_ != Phase::measuring) return;
    auto target_count = static_cast<std::uint64_t>(opt.rate * seconds_between(window_start_, Clock::now()));
    for (; issued_ < target_count; ++issued_) {
        auto& c = *conns[senders_[issued_ % senders_.size()]];
        if (c.ended) continue;
        if (c.queued() >= kMaxQueuedFrames) { ++result.backlog_skips; continue; }
        send_message(c);
    }
    next_tick_ += 1ms;
    rate_timer_.expires_at(next_tick_);
    rate_timer_.async_wait([this](beast::error_code ec) { if (!ec) tick_rate(); });
}

void Run::tick_acks() {
    auto dirty = std::move(dirty_);
    dirty_.clear();
    for (auto i : dirty) conns[i]->flush_acks();
    if (phase_ == Phase::closing) return;
    ack_timer_.expires_after(20ms);
    ack_timer_.async_wait([this](beast::error_code ec) { if (!ec) tick_acks(); });
}

void Run::tick_progress() {
    auto now = Clock::now();
    double dt = seconds_between(last_progress_, now);
    last_progress_ = now;
    if (opt.progress && dt > 0) {
        std::fprintf(stderr, "natter-bench: %5.1fs  sends %8.0f/s  delivered %8.0f/s  p50 %7.3f ms  p99 %7.3f ms  in flight %llu  errors %llu\n",
                     seconds_between(window_start_, now), (result.sends - last_sends_) / dt,
                     (result.delivered - last_delivered_) / dt, interval_.percentile(50) / 1e6,
                     interval_.percentile(99) / 1e6, static_cast<unsigned long long>(total_in_flight),
                     static_cast<unsigned long long>(result.errors));
    }
    last_sends_ = result.sends;
    last_delivered_ = result.delivered;
    interval_ = Histogram{};
    if (phase_ != Phase::measuring) return;
    progress_timer_.expires_at(progress_timer_.expiry() + 1s);
    progress_timer_.async_wait([this](beast::error_code ec) { if (!ec) tick_progress(); });
}

void Run::end_window() {
    window_end_ = Clock::now();
    result.duration_s = seconds_between(window_start_, window_end_);
    phase_ = Phase::draining;
    rate_timer_.cancel();
    progress_timer_.cancel();
    drain_timer_.expires_after(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.drain_s)));
    drain_timer_.async_wait([this](beast::error_code ec) { if (!ec) finish(); });
    check_drained();
}

void Run::check_drained() {
    if (phase_ != Phase::draining || total_in_flight || total_unanswered) return;
    result.drained = true;
    finish();
}

void Run::finish() {
    if (phase_ == Phase::closing) return;
    phase_ = Phase::closing;
    drain_timer_.cancel();
    ack_timer_.cancel();
    close_timer_.expires_after(5s);
    close_timer_.async_wait([this](beast::error_code ec) { if (!ec) ioc.stop(); });
    for (auto& c : conns) c->close();
}

void Run::on_ended(Conn& c) {
    ++ended_;
    if (phase_ == Phase::connecting && !c.ready) on_failed(c, "closed during the handshake");
    if (phase_ != Phase::closing) ++result.disconnects;
    if (phase_ == Phase::closing && ended_ == conns.size()) {
        close_timer_.cancel();
        ioc.stop();
    }
}

void Run::on_frame(Conn& c, std::string_view text) {
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
    auto body = scan_string(text, "body").value_or("");
    std::uint64_t sent_ns = 0;
    if (body.size() > 3 && body.substr(0, 3) == "nb ") std::from_chars(body.data() + 3, body.data() + body.size(), sent_ns);
    // Only this run's messages (and only those from the paired sender) count.
    if (sent_ns < run_start_ns_ || c.index() % 2 == 0) { ++result.stale; return; }
    ++result.delivered_total;
    auto& sender = *conns[c.index() - 1];
    if (sender.in_flight) { --sender.in_flight; --total_in_flight; }
    if (phase_ == Phase::measuring) {
        ++result.delivered;
        auto lat = now_ns() - sent_ns;
        result.latency.record(lat);
        interval_.record(lat);
        if (closed_loop()) pump(sender);
    }
    check_drained();
}

void Run::on_sent(Conn& c, std::string_view text) {
    ++result.sent_ok;
    if (c.unanswered) { --c.unanswered; --total_unanswered; }
    if (opt.verify) {
        auto mid = scan_string(text, "message_id");
        auto conv = scan_string(text, "conversation_id");
        auto seq = scan_uint(text, "seq");
        if (mid) checker_.on_sent(opt.users[c.index() + 1].device_id, std::string(*mid), std::string(conv.value_or("")), seq.value_or(0));
    }
    check_drained();
}

void Run::on_error(Conn& c, std::string_view text) {
    ++result.errors;
    if (result.error_examples.size() < kMaxErrorExamples) result.error_examples.emplace_back(text);
    // An error that answers one of our sends: that message will never arrive.
    if (scan_string(text, "id") && c.unanswered) {
        --c.unanswered;
        --total_unanswered;
        if (c.in_flight) { --c.in_flight; --total_in_flight; }
        if (phase_ == Phase::measuring && closed_loop()) pump(c);
    }
    check_drained();
}

}  // namespace

RunResult run_direct(const DirectOptions& options) {
    Run run(options);
    return run.execute();
}

}  // namespace natter::bench
