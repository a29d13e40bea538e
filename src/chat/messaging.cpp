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
      send_limiter_(limits.send_rate_per_s, limits.send_burst) {
    // A sharded store's deliveries that came after `sent` go out like any.
    stores_.messages->on_late_delivery([this](const SendOutcome& out) { publish(out); });
}

MessagingService::~MessagingService() {
    if (!detached_) stores_.messages->on_late_delivery(nullptr);
}

void MessagingService::detach_from_store() {
    if (detached_) return;
    stores_.messages->on_late_delivery(nullptr);
    detached_ = true;
}

bool MessagingService::send(const Principal& who, SendCommand cmd, std::function<void(Result<StoredMessage>)> done,
                            const std::function<void()>& handed_off) {
    auto reject = [&](Error e) {
        this->reject(cmd.trace_id, who, e);
        done(std::move(e));
        return true;
    };
    if (!is_uuid(cmd.client_msg_id)) return reject(err(Code::invalid, "client_msg_id must be a UUID"));
    if (cmd.attachment_json && !media_) return reject(err(Code::invalid, "attachments are not supported by this server"));
    // A body is required, or a caption with an attachment.
    if (!cmd.body && !cmd.attachment_json) return reject(err(Code::invalid, "body is required"));
    if (cmd.body) {
        auto len = utf8_length(*cmd.body);
        if (!len) return reject(err(Code::invalid, "body is not valid UTF-8"));
        if (*len == 0) return reject(err(Code::invalid, "body must not be empty"));
        if (*len > limits_.max_body_chars)
            return reject(err(Code::too_large, "body is longer than " + std::to_string(limits_.max_body_chars) + " characters"));
    }
    if (!cmd.to_user && !cmd.to_group) return reject(err(Code::invalid, "to must name a user or a group"));
    if (auto wait = send_limiter_.take(who.user, clock_.now_ms())) {
        Error e = err(Code::rate_limited, "too many messages: slow down");
        e.retry_after_ms = wait;
        return reject(std::move(e));
    }
    // The recipient's existence is checked in the send's transaction, so
    // sends reach the store in the order the socket sent them.
    SendRequest req;
    if (cmd.to_user) {
        UserId to = *cmd.to_user;
        auto conv = direct_conversation(who.user, to);
        req.conversation_id = conv.str();
        req.recipient = to;
        req.participants = conv.a == conv.b ? std::vector<UserId>{conv.a} : std::vector<UserId>{conv.a, conv.b};
        req.to_json = nlohmann::json{{"user", id_string(to)}}.dump();
    } else {
        // Membership is checked in the send's transaction, in order with the group's changes.
        req.conversation_id = group_conversation(*cmd.to_group).str();
        req.group = true;
        req.to_json = nlohmann::json{{"group", id_string(*cmd.to_group)}}.dump();
    }
    req.sender = who.user;
    req.sender_device = who.device;
    req.client_msg_id = std::move(cmd.client_msg_id);
    req.kind = MessageKind::text;
    req.body = cmd.body.value_or("");
    if (!cmd.attachment_json) {
        commit(who, std::move(req), std::move(cmd.trace_id), std::move(done));
        return true;
    }
    // The media check reads the blob store: off this thread, and the
    // socket's later sends wait for it (handed_off), so order holds.
    blocking_([this, who, req = std::move(req), attachment = std::move(*cmd.attachment_json),
               trace_id = std::move(cmd.trace_id), done = std::move(done), handed_off]() mutable {
        Result<CheckedAttachment> checked = err(Code::unavailable, "internal error; retry");
        try {
            checked = media_->check_attachment(who, attachment);
        } catch (const std::exception& e) {
            log_event(LogLevel::error, "send.media_check_failed", {{"error", e.what()}});
        }
        if (!checked) {
            this->reject(trace_id, who, checked.error());
            done(checked.error());
        } else {
            req.kind = MessageKind::image;
            req.attachment_json = std::move(checked->json);
            req.media_id = checked->media_id;
            commit(who, std::move(req), std::move(trace_id), std::move(done));
        }
        handed_off();
    });
    return false;
}

void MessagingService::commit(const Principal& who, SendRequest req, std::string trace_id,
                              std::function<void(Result<StoredMessage>)> done) {
    auto now = clock_.now_ms();
    req.new_message_id = ids_.next(now);
    req.ts = now;
    // The payload a retry must repeat: recipient and content.
    req.payload_hash = sha256_hex(req.to_json + '\n' + req.body + '\n' + req.attachment_json);
    auto started = std::chrono::steady_clock::now();
    stores_.messages->commit_send(std::move(req), [this, who, trace_id = std::move(trace_id), started,
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
        ev->inbox.push_back(InboxRow{t.device, t.inbox_id, t.prev_inbox_id});
    }
    for (UserId u : order) bus_.publish(Channel::user(u), per_user[u]);
    if (!out.resync_users.empty()) {
        auto resync = std::make_shared<BusEvent>();
        resync->kind = BusEvent::Kind::resync;
        for (UserId u : out.resync_users) bus_.publish(Channel::user(u), resync);
    }
}

void MessagingService::ack(const Principal& who, std::vector<MessageId> ids, std::function<void()> done) {
    auto asked = ids.size();
    stores_.inbox->ack(who.user, who.device, std::move(ids), clock_.now_ms(),
                       [this, asked, done = std::move(done)](AckOutcome out) {
                           stats_.acks_removed += out.removed;
                           stats_.acks_ignored += asked - std::min(asked, out.removed);
                           publish_receipts(out.receipts);
                           if (done) done();
                       });
}

void MessagingService::mark_read(const Principal& who, const std::string& conversation_id, std::int64_t up_to_seq,
                                 std::function<void(Result<Ok>)> done) {
    auto conv = parse_conversation(conversation_id);
    if (!conv) return done(err(Code::invalid, "conversation_id is not a conversation id"));
    if (up_to_seq < 1) return done(err(Code::invalid, "up_to_seq must be at least 1"));
    stores_.receipts->mark_read(who.user, conv->str(), up_to_seq, clock_.now_ms(),
                                [this, done = std::move(done)](Result<std::vector<ReceiptChange>> changes) {
                                    if (!changes) return done(changes.error());
                                    publish_receipts(*changes);
                                    done(Ok{});
                                });
}

void MessagingService::receipts_for_sync(const Principal& who, std::function<void(Result<ReceiptCatchUp>)> done) {
    blocking_([this, who, done = std::move(done)] {
        try {
            ReceiptCatchUp out;
            auto since = stores_.receipts->receipts_seen(who.user, who.device);
            auto rows = stores_.receipts->receipts_since(who.user, since, limits_.max_sync_receipts);
            for (const auto& r : rows) {
                // Others' watermarks for the user's messages; the user's own
                // read watermark for its other devices' unread marks.
                if (r.user_id != who.user && r.delivered_seq > 0)
                    out.frames.push_back(receipt_frame(r.conversation_id, r.user_id, false, r.delivered_seq));
                if (r.read_seq > 0) out.frames.push_back(receipt_frame(r.conversation_id, r.user_id, true, r.read_seq));
                out.seen_at = std::max(out.seen_at, r.changed_at);
            }
            // A full page may have cut rows sharing its last millisecond:
            // the next sync starts just before it (a watermark sent twice is harmless).
            if (rows.size() == limits_.max_sync_receipts && out.seen_at > 0) out.seen_at -= 1;
            done(std::move(out));
        } catch (const std::exception& e) {
            done(err(Code::unavailable, std::string("receipt read failed: ") + e.what()));
        }
    });
}

void MessagingService::publish_receipts(const std::vector<ReceiptChange>& changes) {
    for (const auto& c : changes) {
        if (c.notify.empty()) continue;
        auto ev = std::make_shared<BusEvent>();
        ev->kind = BusEvent::Kind::notice;
        ev->frame = std::make_shared<const std::string>(receipt_frame(c.conversation_id, c.by, c.read, c.up_to_seq));
        std::shared_ptr<const BusEvent> shared = std::move(ev);
        for (UserId u : c.notify) bus_.publish(Channel::user(u), shared);
        stats_.receipts_published.fetch_add(c.notify.size(), std::memory_order_relaxed);
    }
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
