// natter-bench offline: queue K messages for a device that is not connected,
// then connect it and time the drain.

#include "bench/checker.hpp"
#include "bench/frame_scan.hpp"
#include "bench/scenarios.hpp"
#include "bench/send_frames.hpp"
#include "bench/ws_conn.hpp"

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdio>
#include <random>
#include <stdexcept>

namespace natter::bench {

namespace {

using namespace std::chrono_literals;
namespace net = boost::asio;


constexpr std::size_t kSender = 0, kReceiver = 1;

class Offline final : public WsHost {
public:
    explicit Offline(const OfflineOptions& o) : opt(o) {
        ack_batch = o.ack_batch;
        body_prefix_ = "ob " + frames_.run_tag() + " ";
    }

    nlohmann::json execute();

    const BenchUser& user_of(const WsConn& c) const override { return opt.users[c.index()]; }
    void on_failed(WsConn& c, const std::string& why) override {
        fail((c.index() == kSender ? "sender: " : "receiver: ") + why);
    }
    void on_ended(WsConn& c) override {
        if (phase_ != Phase::closing) fail(std::string(c.index() == kSender ? "sender" : "receiver") + " socket closed early");
        if (conns_[kSender]->ended && (!receiver_started_ || conns_[kReceiver]->ended)) ioc.stop();
    }
    void on_frame(WsConn& c, std::string_view text) override;
    void ack_pending(WsConn&) override { ack_dirty_ = true; }

private:
    enum class Phase { connecting, queueing, draining, closing };
    void fail(const std::string& why) {
        if (error_.empty()) error_ = why;
        finish();
    }
    void pump();
    void on_sent(std::string_view text);
    void on_message(WsConn& c, std::string_view text);
    void maybe_done();
    void start_drain();
    void finish();
    void tick();

    const OfflineOptions& opt;
    std::vector<std::shared_ptr<WsConn>> conns_;
    Phase phase_ = Phase::connecting;
    bool receiver_started_ = false, sync_done_ = false, ack_dirty_ = false;
    SendFrames frames_;
    std::string body_prefix_, error_;
    std::uint64_t issued_ = 0, sent_ok_ = 0, errors_ = 0, delivered_ = 0, stale_ = 0, sync_remaining_ = 0;
    std::vector<std::string> error_examples_;
    Clock::time_point t_start_, t_queue0_, t_queue1_, t_drain0_, t_drain1_, t_last_msg_;
    Checker checker_;
    net::steady_timer tick_timer_{ioc}, deadline_{ioc}, close_timer_{ioc};
};

nlohmann::json Offline::execute() {
    if (opt.users.size() < 2) throw std::runtime_error("offline needs at least 2 users");
    if (opt.count == 0 || opt.window == 0) throw std::runtime_error("--count and --window must be at least 1");
    target = net::ip::tcp::endpoint(net::ip::make_address(opt.host), opt.port);
    host_header = opt.host + ":" + std::to_string(opt.port);
    conns_.push_back(std::make_shared<WsConn>(*this, kSender));
    conns_.push_back(std::make_shared<WsConn>(*this, kReceiver));
    t_start_ = Clock::now();
    conns_[kSender]->start();
    deadline_.expires_after(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.timeout_s)));
    deadline_.async_wait([this](boost::system::error_code ec) {
        if (!ec) fail("timed out after " + std::to_string(opt.timeout_s) + " s");
    });
    tick();
    ioc.run();

    auto check = checker_.check();
    double queue_s = sent_ok_ ? seconds_between(t_queue0_, t_queue1_) : 0;
    double drain_s = phase_ == Phase::closing && error_.empty() ? seconds_between(t_drain0_, t_drain1_) : 0;
    double last_msg_s = delivered_ ? seconds_between(t_drain0_, t_last_msg_) : 0;
    bool ok = error_.empty() && errors_ == 0 && sent_ok_ == opt.count && delivered_ == opt.count && sync_done_ && check.ok();
    nlohmann::json j = {
        {"scenario", "offline"}, {"target", host_header}, {"count", opt.count}, {"window", opt.window},
        {"ack_batch", opt.ack_batch}, {"queued", sent_ok_}, {"errors", errors_},
        {"queue_s", queue_s}, {"queue_msgs_per_s", queue_s > 0 ? sent_ok_ / queue_s : 0},
        {"delivered", delivered_}, {"stale", stale_}, {"ack_frames", ack_frames},
        {"drain_s", drain_s}, {"last_message_s", last_msg_s},
        {"drain_msgs_per_s", drain_s > 0 ? delivered_ / drain_s : 0},
        {"sync_done", sync_done_}, {"sync_done_remaining", sync_remaining_},
        {"error_examples", error_examples_},
        {"verify", {{"ok", check.ok()}, {"sent", check.sent}, {"received", check.received}, {"lost", check.lost},
                    {"duplicates", check.duplicates}, {"order", check.order}, {"mismatched", check.mismatched},
                    {"examples", check.examples}}},
        {"ok", ok}};
    if (!error_.empty()) j["error"] = error_;
    return j;
}

void Offline::tick() {
    if (ack_dirty_) {
        ack_dirty_ = false;
        for (auto& c : conns_) c->flush_acks();
    }
    if (phase_ == Phase::closing) return;
    tick_timer_.expires_after(20ms);
    tick_timer_.async_wait([this](boost::system::error_code ec) { if (!ec) tick(); });
}

void Offline::on_frame(WsConn& c, std::string_view text) {
    auto type = frame_type(text);
    if (!type) return;
    if (*type == "message") return on_message(c, text);
    if (c.index() == kSender) {
        if (*type == "sent") return on_sent(text);
        if (*type == "error") {
            ++errors_;
            if (error_examples_.size() < 5) error_examples_.emplace_back(text);
            if (scan_string(text, "id") && c.unanswered) --c.unanswered;
            if (c.unanswered == 0 && issued_ == opt.count && phase_ == Phase::queueing) start_drain();
            else pump();
            return;
        }
        if (*type == "sync_done" && !c.ready) {
            c.ready = true;
            phase_ = Phase::queueing;
            t_queue0_ = Clock::now();
            pump();
        }
        return;
    }
    if (*type == "sync_done") {
        c.flush_acks();
        if (!sync_done_) sync_remaining_ = scan_uint(text, "remaining").value_or(0);
        sync_done_ = true;
        maybe_done();
    }
}

void Offline::pump() {
    auto& s = *conns_[kSender];
    const auto& to = opt.users[kReceiver].user_id;
    while (phase_ == Phase::queueing && issued_ < opt.count && s.unanswered < opt.window) {
        auto n = issued_++;
        ++s.unanswered;
        s.write(frames_.frame(n, to, body_prefix_ + std::to_string(n)));
    }
}

void Offline::on_sent(std::string_view text) {
    auto& s = *conns_[kSender];
    ++sent_ok_;
    if (s.unanswered) --s.unanswered;
    auto mid = scan_string(text, "message_id");
    auto conv = scan_string(text, "conversation_id");
    auto seq = scan_uint(text, "seq");
    if (mid) checker_.on_sent(opt.users[kReceiver].device_id, std::string(*mid), std::string(conv.value_or("")), seq.value_or(0));
    if (issued_ == opt.count && s.unanswered == 0 && phase_ == Phase::queueing) return start_drain();
    pump();
}

void Offline::start_drain() {
    t_queue1_ = Clock::now();
    if (sent_ok_ == 0) return fail("no send was accepted");
    if (opt.progress)
        std::fprintf(stderr, "natter-bench: %llu messages queued in %.3f s; connecting the receiver\n",
                     static_cast<unsigned long long>(sent_ok_), seconds_between(t_queue0_, t_queue1_));
    phase_ = Phase::draining;
    receiver_started_ = true;
    t_drain0_ = Clock::now();
    conns_[kReceiver]->start();
}

void Offline::on_message(WsConn& c, std::string_view text) {
    auto mid = scan_string(text, "message_id");
    if (!mid) return;
    c.add_ack(*mid);
    auto body = scan_string(text, "body").value_or("");
    if (c.index() != kReceiver || body.substr(0, body_prefix_.size()) != body_prefix_) {
        ++stale_;
        return;
    }
    ++delivered_;
    t_last_msg_ = Clock::now();
    auto conv = scan_string(text, "conversation_id");
    auto prev = scan_string(text, "prev_message_id");
    auto seq = scan_uint(text, "seq");
    checker_.on_message(opt.users[kReceiver].device_id, std::string(*mid), std::string(conv.value_or("")),
                        seq.value_or(0), std::string(prev.value_or("")));
    maybe_done();
}

void Offline::maybe_done() {
    if (phase_ != Phase::draining || !sync_done_ || delivered_ < sent_ok_) return;
    t_drain1_ = Clock::now();
    finish();
}

void Offline::finish() {
    if (phase_ == Phase::closing) return;
    phase_ = Phase::closing;
    tick_timer_.cancel();
    deadline_.cancel();
    close_timer_.expires_after(5s);
    close_timer_.async_wait([this](boost::system::error_code ec) { if (!ec) ioc.stop(); });
    bool any = false;
    for (std::size_t i = 0; i < conns_.size(); ++i) {
        if (i == kReceiver && !receiver_started_) continue;
        if (!conns_[i]->ended) any = true;
        conns_[i]->close();
    }
    if (!any) ioc.stop();
}

}  // namespace

nlohmann::json run_offline(const OfflineOptions& o) {
    Offline run(o);
    return run.execute();
}

std::string scenario_table(const nlohmann::json& report) {
    std::string out = "natter-bench " + report.value("scenario", std::string("?")) + " against " +
                      report.value("target", std::string("?")) + "\n";
    auto emit = [&](auto& self, const nlohmann::json& j, const std::string& prefix) -> void {
        for (auto it = j.begin(); it != j.end(); ++it) {
            if (prefix.empty() && (it.key() == "scenario" || it.key() == "target")) continue;
            std::string key = prefix + it.key();
            if (it->is_object()) { self(self, *it, key + "."); continue; }
            if (it->is_array() && it->empty()) continue;
            std::string v = it->is_string() ? it->get<std::string>() : it->dump();
            if (it->is_number_float()) {
                char b[48];
                std::snprintf(b, sizeof b, "%.3f", it->get<double>());
                v = b;
            }
            char k[64];
            std::snprintf(k, sizeof k, "  %-28s ", key.c_str());
            out += k + v + "\n";
        }
    };
    emit(emit, report, "");
    return out;
}

}  // namespace natter::bench
