#include "chat/messaging.hpp"

#include <chrono>
#include <map>

#include <nlohmann/json.hpp>

#include "chat/frames.hpp"
#include "core/conversation.hpp"
#include "core/crypto.hpp"
#include "core/text.hpp"
#include "obs/log.hpp"

namespace natter {

MessagingService::MessagingService(Stores stores, Bus& bus, IdGenerator& ids, const Clock& clock,
                                   const Limits& limits, Blocking blocking)
    : stores_(stores),
      bus_(bus),
      ids_(ids),
      clock_(clock),
      limits_(limits),
      blocking_(std::move(blocking)),
      send_limiter_(limits.send_rate_per_s, limits.send_burst) {}

void MessagingService::send(const Principal& who, SendCommand cmd, std::function<void(Result<StoredMessage>)> done) {
    auto reject = [&](Error e) {
        this->reject(cmd.trace_id, who, e);
        done(std::move(e));
    };
    if (!is_uuid(cmd.client_msg_id)) return reject(err(Code::invalid, "client_msg_id must be a UUID"));
    if (cmd.attachment_json) return reject(err(Code::invalid, "attachments are not supported by this server yet"));
    if (!cmd.body) return reject(err(Code::invalid, "body is required"));
    auto len = utf8_length(*cmd.body);
    if (!len) return reject(err(Code::invalid, "body is not valid UTF-8"));
    if (*len == 0) return reject(err(Code::invalid, "body must not be empty"));
    if (*len > limits_.max_body_chars)
        return reject(err(Code::too_large, "body is longer than " + std::to_string(limits_.max_body_chars) + " characters"));
    if (cmd.to_group) return reject(err(Code::not_found, "groups are not supported by this server yet"));
    if (!cmd.to_user) return reject(err(Code::invalid, "to must name a user or a group"));
    if (auto wait = send_limiter_.take(who.user, clock_.now_ms())) {
        Error e = err(Code::rate_limited, "too many messages: slow down");
        e.retry_after_ms = wait;
        return reject(std::move(e));
    }
    // The recipient's existence is checked in the send's transaction, so
    // sends reach the store in the order the socket sent them.
    UserId to = *cmd.to_user;
    auto now = clock_.now_ms();
    auto conv = direct_conversation(who.user, to);
    SendRequest req;
    req.conversation_id = conv.str();
    req.recipient = to;
    req.participants = conv.a == conv.b ? std::vector<UserId>{conv.a} : std::vector<UserId>{conv.a, conv.b};
    req.sender = who.user;
    req.sender_device = who.device;
    req.client_msg_id = std::move(cmd.client_msg_id);
    req.new_message_id = ids_.next(now);
    req.kind = MessageKind::text;
    req.to_json = nlohmann::json{{"user", id_string(to)}}.dump();
    req.body = std::move(*cmd.body);
    req.ts = now;
    // The payload a retry must repeat: recipient and content.
    req.payload_hash = sha256_hex(req.to_json + '\n' + req.body + '\n' + req.attachment_json);
    auto started = std::chrono::steady_clock::now();
    stores_.messages->commit_send(std::move(req), [this, who, trace_id = std::move(cmd.trace_id), started,
                                                   done = std::move(done)](Result<SendOutcome> out) {
        auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        stats_.store_latency.observe(elapsed);
        if (!out) {
            this->reject(trace_id, who, out.error());
            return done(out.error());
        }
        if (out->duplicate) {
            stats_.sends_duplicate++;
        } else {
            stats_.sends_accepted++;
            publish(*out);
        }
        if (log_enabled(LogLevel::debug))
            log_event(LogLevel::debug, "send.accepted",
                      {{"trace_id", trace_id}, {"user", id_string(who.user)}, {"message_id", id_string(out->message.message_id)},
                       {"conversation_id", out->message.conversation_id}, {"seq", out->message.seq},
                       {"duplicate", out->duplicate}, {"store_ms", elapsed * 1000}});
        done(std::move(out->message));
    });
}

void MessagingService::reject(const std::string& trace_id, const Principal& who, const Error& e) {
    stats_.sends_rejected++;
    stats_.rejected_by_code[std::size_t(e.code)]++;
    // The store failing is ours to look at; a client's bad send is not.
    auto level = e.code == Code::unavailable ? LogLevel::warn : LogLevel::debug;
    if (log_enabled(level))
        log_event(level, "send.rejected",
                  {{"trace_id", trace_id}, {"user", id_string(who.user)}, {"code", code_name(e.code)}, {"message", e.message}});
}

void MessagingService::publish(const SendOutcome& out) {
    auto frame = std::make_shared<const std::string>(message_frame(out.message));
    std::map<UserId, std::shared_ptr<BusEvent>> per_user;
    std::vector<UserId> order;  // recipients first, as written
    for (const auto& t : out.targets) {
        auto& ev = per_user[t.user];
        if (!ev) {
            ev = std::make_shared<BusEvent>();
            ev->kind = BusEvent::Kind::message;
            ev->message_id = out.message.message_id;
            ev->frame = frame;
            order.push_back(t.user);
        }
        ev->inbox.emplace_back(t.device, t.inbox_id);
    }
    for (UserId u : order) bus_.publish(Channel::user(u), per_user[u]);
}

void MessagingService::ack(const Principal& who, std::vector<MessageId> ids, std::function<void()> done) {
    auto asked = ids.size();
    stores_.inbox->ack(who.user, who.device, std::move(ids), [this, asked, done = std::move(done)](std::size_t removed) {
        stats_.acks_removed += removed;
        stats_.acks_ignored += asked - std::min(asked, removed);
        if (done) done();
    });
}

void MessagingService::check_credentials(const Principal& who, std::function<void(bool valid)> done) {
    blocking_([this, who, done = std::move(done)] {
        bool valid = true;  // a store error must not sign the device out
        try {
            auto d = stores_.devices->device(who.user, who.device);
            valid = d && d->generation == who.generation;
        } catch (const std::exception&) {
        }
        done(valid);
    });
}

void MessagingService::read_inbox(const Principal& who, InboxId after, std::size_t limit, bool check_truncated,
                                  std::function<void(Result<InboxPage>)> done) {
    blocking_([this, who, after, limit, check_truncated, done = std::move(done)] {
        try {
            InboxPage page;
            if (check_truncated) page.truncated = stores_.inbox->truncated(who.user, who.device);
            page.items = stores_.inbox->read_inbox(who.user, who.device, after, limit);
            done(std::move(page));
        } catch (const std::exception& e) {
            done(err(Code::unavailable, std::string("inbox read failed: ") + e.what()));
        }
    });
}

}  // namespace natter
