// natter-bench group: one sender into a group of M members.
//
// User 0 creates the group over HTTP (`POST /v1/groups` with users 1..M-1),
// then every member connects and drains its inbox: the group's creation
// `system` message (seq 1, to every member device, the creator's included)
// must arrive before the member's first `sync_done`, and is acked like any
// message. Once all M are drained, user 0 sends N messages to the group
// (`to: {"group": id}`), open loop at a rate or closed loop with a window of
// messages not yet delivered to every member; each of the M-1 other members
// gets a `message` per send and acks in batches. `receipt` frames and
// anything else unasked are counted and otherwise ignored: live receipts
// (the members' delivered watermarks, to the sender) apart from the ones a
// member gets while draining, before its first sync_done (natterd's
// catch-up on watermarks that changed since the device last synced).
//
// Frames are read with scan_top_level (frame_scan.hpp): a system message's
// `event` object has its own `type`, so the flat key search would misread it.

#include "bench/checker.hpp"
#include "bench/frame_scan.hpp"
#include "bench/histogram.hpp"
#include "bench/http_client.hpp"
#include "bench/report.hpp"
#include "bench/scenarios.hpp"
#include "bench/send_frames.hpp"
#include "bench/ws_conn.hpp"

#include <boost/asio/steady_timer.hpp>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>

namespace natter::bench {

namespace {

using namespace std::chrono_literals;
namespace net = boost::asio;

constexpr std::size_t kSender = 0;
constexpr std::size_t kMaxExamples = 5;

std::uint64_t now_ns() {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count());
}

Clock::duration seconds(double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

std::string secs(double s) {
    char b[32];
    std::snprintf(b, sizeof b, "%g s", s);
    return b;
}

std::optional<std::uint64_t> to_uint(std::string_view s) {
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    return v;
}

// The top-level fields of a server frame the scenario looks at.
struct Fields {
    std::string_view type, id, code, message_id, conversation_id, prev_message_id, kind, body;
    std::optional<std::uint64_t> seq;
    bool ok = false;  // the frame was a JSON object the skim understood
};

Fields read_fields(std::string_view text) {
    Fields f;
    f.ok = scan_top_level(text, [&](std::string_view key, std::string_view value, bool is_string) {
        if (!is_string) {
            if (key == "seq") f.seq = to_uint(value);
            return;
        }
        if (key == "type") f.type = value;
        else if (key == "id") f.id = value;
        else if (key == "code") f.code = value;
        else if (key == "message_id") f.message_id = value;
        else if (key == "conversation_id") f.conversation_id = value;
        else if (key == "prev_message_id") f.prev_message_id = value;
        else if (key == "kind") f.kind = value;
        else if (key == "body") f.body = value;
    });
    return f;
}

class GroupRun final : public WsHost {
public:
    explicit GroupRun(const GroupOptions& o) : opt(o) {
        ack_batch = o.ack_batch;
        source_ips = o.source_ips;
        body_prefix_ = "gb " + frames_.run_tag() + " ";
    }

    nlohmann::json execute();

    const BenchUser& user_of(const WsConn& c) const override { return opt.users[c.index()]; }
    void on_failed(WsConn& c, const std::string& why) override { fail(who(c.index()) + ": " + why); }
    void on_ended(WsConn& c) override;
    void on_frame(WsConn& c, std::string_view text) override;
    void ack_pending(WsConn& c) override { dirty_.push_back(c.index()); }

private:
    enum class Phase { connecting, sending, closing };

    struct Msg {
        std::uint64_t sent_ns = 0;     // when its frame was built
        std::uint64_t delivered = 0;   // member devices it reached
        bool answered = false;         // `sent` or `error` came
        bool failed = false;           // `error`: it reaches nobody
        bool complete = false;         // reached every member, or failed
    };

    std::string who(std::size_t i) const {
        return (i == kSender ? "sender (member 0, " : "member " + std::to_string(i) + " (") + opt.users[i].username + ")";
    }
    std::uint64_t recipients() const { return opt.members - 1; }
    bool closed_loop() const { return opt.rate <= 0; }

    std::string create_group();
    void launch_next();
    void member_progress(WsConn& c);
    void start_sending();
    void send_one();
    void pump();
    void tick_rate();
    void tick_acks();
    void tick_progress();
    void on_message(WsConn& c, const Fields& f);
    void on_creation(WsConn& c, const Fields& f);
    void on_sent(const Fields& f);
    void on_error(WsConn& c, const Fields& f, std::string_view text);
    void complete(Msg& m);
    void maybe_done();
    void fail(const std::string& why);
    void finish();
    bool all_ended() const;
    nlohmann::json report();

    const GroupOptions& opt;
    SendFrames frames_;
    std::string body_prefix_;
    std::string group_id_, conversation_id_, creation_id_;
    double create_ms_ = 0;
    std::vector<std::shared_ptr<WsConn>> conns_;
    std::vector<bool> creation_seen_, drained_;
    std::vector<Msg> msgs_;
    std::vector<bool> got_;            // [member * N + n]: member has message n
    Checker::Devices recipient_devices_, member_devices_;
    Phase phase_ = Phase::connecting;
    std::size_t launched_ = 0, ready_ = 0;
    std::uint64_t issued_ = 0, answered_ = 0, sent_ok_ = 0, errors_ = 0, completed_ = 0, failed_ = 0;
    std::uint64_t delivered_ = 0, duplicates_ = 0, stale_ = 0, unexpected_ = 0, receipts_ = 0, other_frames_ = 0;
    std::uint64_t creation_after_sync_done_ = 0, disconnects_ = 0;
    std::vector<std::uint64_t> catch_up_receipts_;  // per member, before its first sync_done
    std::uint64_t last_delivered_ = 0;
    std::vector<std::string> error_examples_, unexpected_examples_;
    std::vector<std::size_t> dirty_;
    std::string error_;
    Clock::time_point t_connect0_, t_send0_, t_last_sent_, t_last_delivery_, t_progress_;
    Histogram latency_, complete_latency_, sent_latency_, interval_;
    Checker checker_;
    net::steady_timer connect_timer_{ioc}, run_timer_{ioc}, rate_timer_{ioc}, ack_timer_{ioc}, progress_timer_{ioc},
        close_timer_{ioc};
    Clock::time_point next_tick_;
};

nlohmann::json GroupRun::execute() {
    if (opt.members < 2) throw std::runtime_error("--members must be at least 2 (the sender and one recipient)");
    if (opt.users.size() < opt.members)
        throw std::runtime_error("--members " + std::to_string(opt.members) + " needs that many users; the users file has " +
                                 std::to_string(opt.users.size()));
    if (opt.messages == 0) throw std::runtime_error("--messages must be at least 1");
    if (closed_loop() && opt.window == 0) throw std::runtime_error("--window must be at least 1 in closed loop");
    if (opt.max_connecting == 0) throw std::runtime_error("--max-connecting must be at least 1");
    target = net::ip::tcp::endpoint(net::ip::make_address(opt.host), opt.port);
    host_header = opt.host + ":" + std::to_string(opt.port);

    auto recipients_list = std::make_shared<std::vector<std::string>>();
    for (std::size_t i = 1; i < opt.members; ++i) recipients_list->push_back(opt.users[i].device_id);
    recipient_devices_ = recipients_list;
    auto members_list = std::make_shared<std::vector<std::string>>(*recipients_list);
    members_list->insert(members_list->begin(), opt.users[kSender].device_id);
    member_devices_ = members_list;
    msgs_.resize(opt.messages);
    got_.assign(opt.members * opt.messages, false);
    creation_seen_.assign(opt.members, false);
    drained_.assign(opt.members, false);
    catch_up_receipts_.assign(opt.members, 0);

    t_connect0_ = Clock::now();
    error_ = create_group();
    if (!error_.empty()) return report();

    for (std::size_t i = 0; i < opt.members; ++i) conns_.push_back(std::make_shared<WsConn>(*this, i));
    for (std::size_t i = 0; i < opt.max_connecting; ++i) launch_next();
    connect_timer_.expires_after(seconds(opt.connect_timeout_s));
    connect_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || phase_ != Phase::connecting) return;
        std::size_t seen = 0;
        for (bool s : creation_seen_) seen += s;
        fail("only " + std::to_string(ready_) + " of " + std::to_string(opt.members) +
             " members connected and drained their inbox within " + secs(opt.connect_timeout_s) + " (" +
             std::to_string(seen) + " got the creation message)");
    });
    tick_acks();
    ioc.run();
    return report();
}

// POST /v1/groups as user 0 with users 1..M-1; sets group_id_ and
// conversation_id_, or answers what went wrong.
std::string GroupRun::create_group() {
    nlohmann::json members = nlohmann::json::array();
    for (std::size_t i = 1; i < opt.members; ++i) members.push_back(opt.users[i].user_id);
    nlohmann::json body = {{"name", opt.name + " " + frames_.run_tag()}, {"members", members}};
    auto t0 = Clock::now();
    auto a = http_request(opt.host, opt.port, "POST", "/v1/groups", opt.users[kSender].access_token, body.dump(),
                          std::chrono::milliseconds(static_cast<long long>(opt.connect_timeout_s * 1000)));
    create_ms_ = seconds_between(t0, Clock::now()) * 1000;
    if (a.status == 0) return "POST /v1/groups: " + a.error;
    if (a.status != 201) {
        std::string hint;
        if (a.status == 409) hint = " (natterd's --max-group-members, default 200, counts the creator)";
        if (a.status == 404) hint = " (a natterd without groups?)";
        return "POST /v1/groups answered " + std::to_string(a.status) + hint + ": " + a.body;
    }
    auto j = nlohmann::json::parse(a.body, nullptr, false);
    if (!j.is_object() || !j.contains("group_id") || !j["group_id"].is_string() || !j.contains("conversation_id") ||
        !j["conversation_id"].is_string())
        return "POST /v1/groups: 201 without group_id and conversation_id strings: " + a.body;
    group_id_ = j["group_id"].get<std::string>();
    conversation_id_ = j["conversation_id"].get<std::string>();
    if (group_id_.find('"') != std::string::npos || group_id_.find('\\') != std::string::npos)
        return "POST /v1/groups: group_id is not an id: " + group_id_;
    return "";
}

void GroupRun::launch_next() {
    if (launched_ >= conns_.size() || phase_ != Phase::connecting) return;
    conns_[launched_++]->start();
}

// A member is drained when its first sync_done came and it has the creation message.
void GroupRun::member_progress(WsConn& c) {
    if (!c.ready || !creation_seen_[c.index()] || drained_[c.index()]) return;
    drained_[c.index()] = true;
    ++ready_;
    c.flush_acks();
    launch_next();
    if (ready_ == conns_.size() && phase_ == Phase::connecting) start_sending();
}

void GroupRun::start_sending() {
    connect_timer_.cancel();
    phase_ = Phase::sending;
    for (auto& c : conns_) c->flush_acks();
    t_send0_ = t_progress_ = next_tick_ = Clock::now();
    if (opt.progress)
        std::fprintf(stderr, "natter-bench: group %s of %llu members created in %.1f ms, all connected and drained in %.3f s; sending %llu messages\n",
                     group_id_.c_str(), static_cast<unsigned long long>(opt.members), create_ms_,
                     seconds_between(t_connect0_, t_send0_), static_cast<unsigned long long>(opt.messages));
    run_timer_.expires_after(seconds(opt.timeout_s));
    run_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || phase_ != Phase::sending) return;
        fail("timed out " + secs(opt.timeout_s) + " after the first send: " + std::to_string(delivered_) +
             " deliveries of " + std::to_string(opt.messages * recipients()) + ", " +
             std::to_string(answered_) + " of " + std::to_string(issued_) + " sends answered");
    });
    progress_timer_.expires_at(t_send0_ + 1s);
    progress_timer_.async_wait([this](boost::system::error_code ec) { if (!ec) tick_progress(); });
    if (closed_loop()) pump();
    else tick_rate();
}

void GroupRun::send_one() {
    auto n = issued_++;
    auto ns = now_ns();
    msgs_[n].sent_ns = ns;
    conns_[kSender]->write(frames_.group_frame(n, group_id_, body_prefix_ + std::to_string(n)));
}

void GroupRun::pump() {
    while (phase_ == Phase::sending && issued_ < opt.messages && issued_ - completed_ < opt.window) send_one();
}

void GroupRun::tick_rate() {
    if (phase_ != Phase::sending) return;
    auto due = static_cast<std::uint64_t>(opt.rate * seconds_between(t_send0_, Clock::now()));
    while (issued_ < opt.messages && issued_ < due) send_one();
    if (issued_ >= opt.messages) return;
    next_tick_ += 1ms;
    rate_timer_.expires_at(next_tick_);
    rate_timer_.async_wait([this](boost::system::error_code ec) { if (!ec) tick_rate(); });
}

void GroupRun::tick_acks() {
    auto dirty = std::move(dirty_);
    dirty_.clear();
    for (auto i : dirty) conns_[i]->flush_acks();
    if (phase_ == Phase::closing) return;
    ack_timer_.expires_after(20ms);
    ack_timer_.async_wait([this](boost::system::error_code ec) { if (!ec) tick_acks(); });
}

void GroupRun::tick_progress() {
    auto now = Clock::now();
    double dt = seconds_between(t_progress_, now);
    t_progress_ = now;
    if (opt.progress && dt > 0)
        std::fprintf(stderr, "natter-bench: %5.1fs  sent %llu/%llu  deliveries %llu (%8.0f/s)  p50 %7.3f ms  p99 %7.3f ms  receipts %llu  errors %llu\n",
                     seconds_between(t_send0_, now), static_cast<unsigned long long>(sent_ok_),
                     static_cast<unsigned long long>(opt.messages), static_cast<unsigned long long>(delivered_),
                     (delivered_ - last_delivered_) / dt, interval_.percentile(50) / 1e6, interval_.percentile(99) / 1e6,
                     static_cast<unsigned long long>(receipts_), static_cast<unsigned long long>(errors_));
    last_delivered_ = delivered_;
    interval_ = Histogram{};
    if (phase_ != Phase::sending) return;
    progress_timer_.expires_at(progress_timer_.expiry() + 1s);
    progress_timer_.async_wait([this](boost::system::error_code ec) { if (!ec) tick_progress(); });
}

void GroupRun::on_frame(WsConn& c, std::string_view text) {
    auto f = read_fields(text);
    if (!f.ok || f.type.empty()) {
        ++unexpected_;
        if (unexpected_examples_.size() < kMaxExamples) unexpected_examples_.emplace_back(text);
        return;
    }
    if (f.type == "message") return on_message(c, f);
    if (f.type == "receipt") {
        // Before the member's first sync_done: natterd's catch-up on watermarks; after: live.
        if (c.ready) ++receipts_;
        else ++catch_up_receipts_[c.index()];
        return;
    }
    if (f.type == "sent" && c.index() == kSender) return on_sent(f);
    if (f.type == "error") return on_error(c, f, text);
    if (f.type == "sync_done") {
        c.flush_acks();
        if (!c.ready) {
            c.ready = true;
            if (!creation_seen_[c.index()]) ++creation_after_sync_done_;
            member_progress(c);
        }
        return;
    }
    ++other_frames_;  // presence, typing, pong: not asked for, ignored
}

void GroupRun::on_message(WsConn& c, const Fields& f) {
    if (f.message_id.empty()) {
        ++unexpected_;
        return;
    }
    c.add_ack(f.message_id);
    if (f.conversation_id != conversation_id_) {
        ++stale_;  // another conversation's leftovers (an earlier run with this users file)
        return;
    }
    std::size_t i = c.index();
    if (opt.verify)
        checker_.on_message(opt.users[i].device_id, std::string(f.message_id), std::string(f.conversation_id),
                            f.seq.value_or(0), std::string(f.prev_message_id));
    if (f.kind == "system") return on_creation(c, f);
    auto body = f.body;
    std::optional<std::uint64_t> n;
    if (body.substr(0, body_prefix_.size()) == body_prefix_) n = to_uint(body.substr(body_prefix_.size()));
    if (i == kSender || !n || *n >= issued_) {
        // The sender's own device gets `sent`, never a copy; nobody else writes to this group.
        ++unexpected_;
        if (unexpected_examples_.size() < kMaxExamples)
            unexpected_examples_.push_back(who(i) + " got message " + std::string(f.message_id) + " seq " +
                                           std::to_string(f.seq.value_or(0)) + " body \"" + std::string(body) + "\"");
        return;
    }
    auto seen = got_[i * opt.messages + *n];
    if (seen) {
        ++duplicates_;
        return;
    }
    seen = true;
    ++delivered_;
    auto& m = msgs_[*n];
    ++m.delivered;
    auto now = Clock::now();
    t_last_delivery_ = now;
    auto lat = now_ns() - m.sent_ns;
    latency_.record(lat);
    interval_.record(lat);
    if (m.delivered == recipients()) {
        complete_latency_.record(lat);
        complete(m);
    }
    maybe_done();
}

void GroupRun::on_creation(WsConn& c, const Fields& f) {
    std::size_t i = c.index();
    if (f.seq != 1 || creation_seen_[i]) {
        ++unexpected_;  // a second system message, or one not at seq 1: no membership changes here
        if (unexpected_examples_.size() < kMaxExamples)
            unexpected_examples_.push_back(who(i) + " got system message " + std::string(f.message_id) + " at seq " +
                                           std::to_string(f.seq.value_or(0)));
        return;
    }
    creation_seen_[i] = true;
    if (creation_id_.empty()) {
        creation_id_ = std::string(f.message_id);
        // Owed to every member device, the creator's too, as seq 1 of the group.
        if (opt.verify) checker_.on_sent(member_devices_, creation_id_, conversation_id_, 1);
    }
    member_progress(c);
}

void GroupRun::on_sent(const Fields& f) {
    auto n = to_uint(f.id);
    if (!n || *n >= issued_ || msgs_[*n].answered) {
        ++unexpected_;
        return;
    }
    auto& m = msgs_[*n];
    m.answered = true;
    ++answered_;
    ++sent_ok_;
    t_last_sent_ = Clock::now();
    sent_latency_.record(now_ns() - m.sent_ns);
    if (opt.verify && !f.message_id.empty())
        checker_.on_sent(recipient_devices_, std::string(f.message_id), std::string(f.conversation_id), f.seq.value_or(0));
    maybe_done();
}

void GroupRun::on_error(WsConn& c, const Fields& f, std::string_view text) {
    ++errors_;
    if (error_examples_.size() < kMaxExamples) error_examples_.push_back(who(c.index()) + ": " + std::string(text));
    if (c.index() != kSender) return;
    auto n = to_uint(f.id);
    if (!n || *n >= issued_ || msgs_[*n].answered) return;
    // A refused send reaches nobody.
    auto& m = msgs_[*n];
    m.answered = true;
    m.failed = true;
    ++answered_;
    ++failed_;
    if (m.delivered) ++unexpected_;  // delivered, then refused?
    complete(m);
    maybe_done();
}

void GroupRun::complete(Msg& m) {
    if (m.complete) return;
    m.complete = true;
    ++completed_;
    if (closed_loop()) pump();
}

void GroupRun::maybe_done() {
    if (phase_ != Phase::sending || completed_ < opt.messages || answered_ < opt.messages) return;
    finish();
}

void GroupRun::fail(const std::string& why) {
    if (error_.empty()) error_ = why;
    finish();
}

void GroupRun::finish() {
    if (phase_ == Phase::closing) return;
    phase_ = Phase::closing;
    connect_timer_.cancel();
    run_timer_.cancel();
    rate_timer_.cancel();
    ack_timer_.cancel();
    progress_timer_.cancel();
    close_timer_.expires_after(5s);
    close_timer_.async_wait([this](boost::system::error_code ec) { if (!ec) ioc.stop(); });
    for (std::size_t i = 0; i < launched_; ++i) conns_[i]->close();  // flushes pending acks first
    if (all_ended()) ioc.stop();
}

// Every socket started has ended (one that failed to connect ends without on_ended).
bool GroupRun::all_ended() const {
    for (std::size_t i = 0; i < launched_; ++i)
        if (!conns_[i]->ended) return false;
    return true;
}

void GroupRun::on_ended(WsConn& c) {
    if (phase_ != Phase::closing) {
        ++disconnects_;
        fail(who(c.index()) + ": the socket closed " +
             (phase_ == Phase::connecting ? "before the group was drained" : "while messages were being sent"));
    }
    if (phase_ == Phase::closing && all_ended()) {
        close_timer_.cancel();
        ioc.stop();
    }
}

nlohmann::json GroupRun::report() {
    bool sent_phase = t_send0_ != Clock::time_point{};
    double duration_s = sent_phase && t_last_delivery_ > t_send0_ ? seconds_between(t_send0_, t_last_delivery_) : 0;
    double send_s = sent_phase && t_last_sent_ > t_send0_ ? seconds_between(t_send0_, t_last_sent_) : 0;
    std::uint64_t expected = opt.messages * recipients();
    std::optional<CheckReport> check;
    if (opt.verify) check = checker_.check();
    std::uint64_t catch_up = 0, catch_up_members = 0;
    for (auto n : catch_up_receipts_) {
        catch_up += n;
        catch_up_members += n > 0;
    }
    bool ok = error_.empty() && errors_ == 0 && sent_ok_ == opt.messages && delivered_ == expected &&
              duplicates_ == 0 && unexpected_ == 0 && disconnects_ == 0 && creation_after_sync_done_ == 0 &&
              (!check || check->ok());
    nlohmann::json j = {
        {"scenario", "group"}, {"target", host_header}, {"members", opt.members}, {"messages", opt.messages},
        {"mode", closed_loop() ? "closed" : "open"}, {"window", closed_loop() ? opt.window : 0},
        {"rate", closed_loop() ? 0.0 : opt.rate}, {"ack_batch", opt.ack_batch},
        {"group_id", group_id_}, {"conversation_id", conversation_id_},
        {"create_ms", create_ms_},
        {"connect_s", sent_phase ? seconds_between(t_connect0_, t_send0_) : 0.0},
        {"sends", issued_}, {"sent_ok", sent_ok_}, {"errors", errors_}, {"refused_sends", failed_},
        {"send_s", send_s}, {"sends_per_s", send_s > 0 ? sent_ok_ / send_s : 0.0},
        {"deliveries_expected", expected}, {"delivered", delivered_},
        {"duration_s", duration_s}, {"deliveries_per_s", duration_s > 0 ? delivered_ / duration_s : 0.0},
        {"duplicates", duplicates_}, {"stale", stale_}, {"unexpected", unexpected_},
        {"creation_after_sync_done", creation_after_sync_done_},
        {"receipts", receipts_}, {"catch_up_receipts", catch_up}, {"catch_up_receipt_members", catch_up_members},
        {"other_frames", other_frames_}, {"ack_frames", ack_frames},
        {"disconnects", disconnects_},
        {"latency", latency_json(latency_)},
        {"complete_latency", latency_json(complete_latency_)},
        {"sent_latency", latency_json(sent_latency_)},
        {"error_examples", error_examples_}, {"unexpected_examples", unexpected_examples_},
        {"ok", ok}};
    if (check) j["verify"] = check_json(*check);
    std::string why = error_;
    if (why.empty() && !ok) {
        // Name the first thing that went wrong.
        if (errors_) why = std::to_string(errors_) + " error answers (" + std::to_string(failed_) + " sends refused; see error_examples)";
        else if (delivered_ != expected) why = std::to_string(delivered_) + " of " + std::to_string(expected) + " deliveries";
        else if (duplicates_) why = std::to_string(duplicates_) + " duplicate deliveries";
        else if (unexpected_) why = std::to_string(unexpected_) + " unexpected frames (see unexpected_examples)";
        else if (creation_after_sync_done_)
            why = std::to_string(creation_after_sync_done_) + " members got sync_done before the group's creation message";
        else if (check && !check->ok()) why = "verify failed (see verify.examples)";
        else why = "not ok";
    }
    if (!why.empty()) j["error"] = why;
    return j;
}

}  // namespace

nlohmann::json run_group(const GroupOptions& o) {
    GroupRun run(o);
    return run.execute();
}

}  // namespace natter::bench
