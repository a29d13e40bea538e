#include "sessions/device_session.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "chat/frames.hpp"
#include "core/json_input.hpp"
#include "obs/trace.hpp"
#include "sessions/session_registry.hpp"

namespace natter {

using nlohmann::json;

namespace {
// The optional string field `name`, or an error naming it.
std::optional<Error> get_string(const json& j, const char* name, std::optional<std::string>& out) {
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) return err(Code::invalid, std::string(name) + " must be a string");
    out = it->get<std::string>();
    return std::nullopt;
}

std::optional<std::uint64_t> get_id(const json& j) {
    if (!j.is_string()) return std::nullopt;
    return parse_id(j.get_ref<const std::string&>());
}
}  // namespace

// Typing frames a socket may relay: a person types in one chat at a time.
constexpr double kTypingRate = 5, kTypingBurst = 20;

DeviceSession::DeviceSession(Principal who, std::weak_ptr<Connection> conn, MessagingService& messaging,
                             SessionRegistry& registry, const Limits& limits, const Clock& clock,
                             PresenceService* presence)
    : who_(who),
      conn_(std::move(conn)),
      messaging_(messaging),
      registry_(registry),
      limits_(limits),
      clock_(clock),
      presence_(presence),
      holder_(presence ? presence->new_holder() : std::string()),
      frame_bucket_(limits.frame_rate_per_s, limits.frame_burst),
      typing_bucket_(kTypingRate, kTypingBurst) {}

template <class Fn>
void DeviceSession::on_strand(Fn&& fn) {
    if (auto c = conn_.lock()) c->post(std::forward<Fn>(fn));
}

void DeviceSession::start() {
    registry_.attach(shared_from_this());
    // A revocation published before the attach was not seen: look again.
    std::weak_ptr<DeviceSession> weak = weak_from_this();
    messaging_.check_credentials(who_, [weak](bool valid) {
        if (auto self = weak.lock(); self && !valid) self->close(close_code::revoked, "credentials revoked: log in again");
    });
    if (presence_) presence_->connected(who_, holder_);
    maybe_pull();
}

void DeviceSession::on_closed() {
    if (closed_) return;
    closed_ = true;
    registry_.detach(this);
    if (presence_) presence_->disconnected(who_, holder_);
}

void DeviceSession::close(int code, std::string reason) {
    if (auto c = conn_.lock()) c->close(code, std::move(reason));
}

void DeviceSession::push(std::shared_ptr<const std::string> frame) {
    if (auto c = conn_.lock()) c->send(std::move(frame));
}

void DeviceSession::reply_error(const std::string& request_id, Error e) {
    push(std::make_shared<const std::string>(error_frame(request_id, e)));
}

void DeviceSession::on_control() {
    if (closed_) return;
    if (frame_bucket_.take(clock_.now_ms())) close(close_code::policy, "too many frames");
}

void DeviceSession::on_binary() {
    if (frame_bucket_.take(clock_.now_ms())) return close(close_code::policy, "too many frames");
    reply_error("", err(Code::invalid, "binary frames are not part of the protocol: send JSON text frames"));
}

void DeviceSession::on_text(const std::string& text) {
    if (closed_) return;
    if (frame_bucket_.take(clock_.now_ms())) return close(close_code::policy, "too many frames");
    try {
        dispatch(text);
    } catch (const std::exception& e) {
        // A bug, not the client's fault: answer and keep the socket.
        reply_error("", err(Code::unavailable, "internal error; retry"));
    }
}

void DeviceSession::dispatch(const std::string& text) {
    auto parsed = parse_client_json(text);
    if (!parsed) return reply_error("", err(Code::invalid, "frame " + parsed.error().message));
    json frame = std::move(*parsed);
    if (!frame.is_object()) return reply_error("", err(Code::invalid, "frame must be a JSON object"));
    std::optional<std::string> id, type;
    if (auto e = get_string(frame, "id", id)) return reply_error("", *e);
    if (id && id->size() > limits_.max_request_id_chars)
        return reply_error("", err(Code::too_large, "id is longer than " + std::to_string(limits_.max_request_id_chars) + " bytes"));
    const std::string request_id = id.value_or("");
    if (auto e = get_string(frame, "type", type)) return reply_error(request_id, *e);
    if (!type) return reply_error(request_id, err(Code::invalid, "type is required"));
    if (*type == "send") return handle_send(request_id, frame);
    if (*type == "ack") return handle_ack(request_id, frame);
    if (*type == "ping") return push(std::make_shared<const std::string>(pong_frame(request_id)));
    if (*type == "read") return handle_read(request_id, frame);
    if (*type == "typing") return handle_typing(request_id, frame);
    if (*type == "presence") return handle_presence(request_id, frame);
    if (*type == "sync") {
        // Push the whole inbox again, then sync_done.
        ++pull_generation_;
        cursor_ = 0;
        in_flight_.clear();
        caught_up_ = false;
        sync_pending_ = true;
        return maybe_pull();
    }
    reply_error(request_id, err(Code::invalid, "unknown frame type"));
}

void DeviceSession::handle_send(const std::string& request_id, const json& frame) {
    SendCommand cmd;
    cmd.trace_id = new_trace_id();
    std::optional<std::string> client_msg_id, body;
    if (auto e = get_string(frame, "client_msg_id", client_msg_id)) return reply_error(request_id, *e);
    if (!client_msg_id) return reply_error(request_id, err(Code::invalid, "client_msg_id is required"));
    cmd.client_msg_id = std::move(*client_msg_id);
    if (auto e = get_string(frame, "body", body)) return reply_error(request_id, *e);
    cmd.body = std::move(body);
    auto to = frame.find("to");
    if (to == frame.end() || !to->is_object() || to->size() != 1)
        return reply_error(request_id, err(Code::invalid, "to must be {\"user\": id} or {\"group\": id}"));
    if (auto u = to->find("user"); u != to->end()) {
        cmd.to_user = get_id(*u);
        if (!cmd.to_user) return reply_error(request_id, err(Code::invalid, "to.user must be a user id string"));
    } else if (auto g = to->find("group"); g != to->end()) {
        cmd.to_group = get_id(*g);
        if (!cmd.to_group) return reply_error(request_id, err(Code::invalid, "to.group must be a group id string"));
    } else {
        return reply_error(request_id, err(Code::invalid, "to must be {\"user\": id} or {\"group\": id}"));
    }
    if (auto a = frame.find("attachment"); a != frame.end() && !a->is_null()) {
        if (!a->is_object()) return reply_error(request_id, err(Code::invalid, "attachment must be an object"));
        cmd.attachment_json = a->dump();
    }
    if (send_queue_.size() >= kMaxQueuedSends) {
        Error e = err(Code::rate_limited, "too many sends waiting for their media checks: slow down");
        e.retry_after_ms = 100;
        return reply_error(request_id, std::move(e));
    }
    send_queue_.push_back(QueuedSend{request_id, std::move(cmd)});
    pump_sends();
}

void DeviceSession::pump_sends() {
    // Sends reach the store in the socket's order: one waiting for a media
    // check holds those behind it.
    while (!send_busy_ && !send_queue_.empty()) {
        auto next = std::move(send_queue_.front());
        send_queue_.pop_front();
        std::weak_ptr<DeviceSession> weak = weak_from_this();
        auto done = [weak, request_id = next.request_id](Result<StoredMessage> r) {
            auto self = weak.lock();
            if (!self) return;
            auto frame =
                std::make_shared<const std::string>(r ? sent_frame(request_id, *r) : error_frame(request_id, r.error()));
            // Connection::send is safe from any thread; the write is queued on the strand.
            self->push(std::move(frame));
        };
        auto handed_off = [weak] {
            auto self = weak.lock();
            if (!self) return;
            self->on_strand([self] {
                self->send_busy_ = false;
                self->pump_sends();
            });
        };
        if (!messaging_.send(who_, std::move(next.cmd), std::move(done), handed_off)) send_busy_ = true;
    }
}

void DeviceSession::handle_ack(const std::string& request_id, const json& frame) {
    auto ids = frame.find("message_ids");
    if (ids == frame.end() || !ids->is_array())
        return reply_error(request_id, err(Code::invalid, "message_ids must be an array of message ids"));
    if (ids->size() > limits_.max_ack_ids)
        return reply_error(request_id, err(Code::too_large, "at most " + std::to_string(limits_.max_ack_ids) + " ids per ack"));
    std::vector<MessageId> list;
    list.reserve(ids->size());
    for (const auto& j : *ids) {
        auto id = get_id(j);
        if (!id) return reply_error(request_id, err(Code::invalid, "message_ids must be an array of message ids"));
        list.push_back(*id);
    }
    for (MessageId id : list) {
        in_flight_.erase(id);
        deleting_[id] = kPending;
    }
    // Until the delete commits, and a read started after that completes, an
    // inbox read may still return these rows.
    std::weak_ptr<DeviceSession> weak = weak_from_this();
    auto done = [weak, list] {
        auto self = weak.lock();
        if (!self) return;
        self->on_strand([self, list] {
            for (MessageId id : list) {
                auto it = self->deleting_.find(id);
                if (it == self->deleting_.end()) continue;
                // With no read outstanding, every later read starts after the delete.
                if (self->pulling_) it->second = self->pulls_started_;
                else self->deleting_.erase(it);
            }
        });
    };
    if (!list.empty()) messaging_.ack(who_, list, std::move(done));
    maybe_pull();
}

void DeviceSession::on_bus(std::shared_ptr<const BusEvent> ev, InboxRow row) {
    std::weak_ptr<DeviceSession> weak = weak_from_this();
    on_strand([weak, ev = std::move(ev), row]() mutable {
        if (auto self = weak.lock()) self->deliver(std::move(ev), row);
    });
}

void DeviceSession::on_resync() {
    on_strand([weak = weak_from_this()] {
        auto self = weak.lock();
        if (!self || self->closed_) return;
        if (self->pulling_) self->dirty_ = true;
        self->caught_up_ = false;
        self->maybe_pull();
    });
}

void DeviceSession::deliver(std::shared_ptr<const BusEvent> ev, InboxRow row) {
    if (closed_ || row.id <= cursor_) return;  // already pushed on this socket
    // row.prev > cursor_: an older row was not pushed yet (its event is late
    // or lost): the read below brings both, in order.
    if (caught_up_ && !pulling_ && row.prev <= cursor_ && in_flight_.size() < limits_.push_window) {
        cursor_ = row.id;
        in_flight_.insert(ev->message_id);
        messaging_.count_pushes(1);
        return push(ev->frame);
    }
    // Behind, or the window is full: the inbox read will bring it, in order.
    if (pulling_) dirty_ = true;
    caught_up_ = false;
    maybe_pull();
}

void DeviceSession::maybe_pull() {
    if (closed_ || pulling_ || caught_up_ || in_flight_.size() >= limits_.push_window) return;
    std::size_t room = limits_.push_window - in_flight_.size();
    pulling_ = true;
    dirty_ = false;
    std::weak_ptr<DeviceSession> weak = weak_from_this();
    auto generation = pull_generation_;
    auto pull_no = ++pulls_started_;
    bool check_truncated = !truncated_checked_;
    truncated_checked_ = true;
    messaging_.read_inbox(who_, cursor_, room, check_truncated,
                          [weak, generation, pull_no, room](Result<MessagingService::InboxPage> page) {
                              auto self = weak.lock();
                              if (!self) return;
                              self->on_strand([self, generation, pull_no, room, page = std::move(page)]() mutable {
                                  self->on_pulled(generation, pull_no, room, std::move(page));
                              });
                          });
}

void DeviceSession::on_pulled(std::uint64_t generation, std::uint64_t pull_no, std::size_t asked,
                              Result<MessagingService::InboxPage> page) {
    pulling_ = false;
    if (closed_) return;
    if (page && page->truncated) truncated_ = true;
    if (generation != pull_generation_) return maybe_pull();  // a `sync` restarted the drain
    if (!page) return close(close_code::internal, "inbox unavailable: reconnect");
    const auto& items = page->items;
    for (const auto& item : items) {
        if (item.inbox_id <= cursor_) continue;
        cursor_ = item.inbox_id;
        if (deleting_.count(item.message.message_id)) continue;  // acked already
        in_flight_.insert(item.message.message_id);
        messaging_.count_pushes(1);
        push(std::make_shared<const std::string>(message_frame(item.message)));
    }
    // Reads after this one start after those deletes committed: they cannot see them.
    for (auto it = deleting_.begin(); it != deleting_.end();)
        it = it->second <= pull_no ? deleting_.erase(it) : std::next(it);
    caught_up_ = items.size() < asked && !dirty_;
    dirty_ = false;
    maybe_finish_sync();
    maybe_pull();
}

void DeviceSession::maybe_finish_sync() {
    if (!caught_up_ || !sync_pending_ || receipts_loading_ || closed_) return;
    // The inbox is drained: the receipts it missed, then sync_done.
    receipts_loading_ = true;
    std::weak_ptr<DeviceSession> weak = weak_from_this();
    auto generation = pull_generation_;
    messaging_.receipts_for_sync(who_, [weak, generation](Result<MessagingService::ReceiptCatchUp> r) {
        auto self = weak.lock();
        if (!self) return;
        self->on_strand([self, generation, r = std::move(r)]() mutable {
            self->receipts_loading_ = false;
            if (self->closed_) return;
            if (generation != self->pull_generation_) return self->maybe_finish_sync();  // a `sync` started over
            if (!r) return self->finish_sync();
            for (auto& f : r->frames) self->push(std::make_shared<const std::string>(std::move(f)));
            if (!r->seen_at) return self->finish_sync();
            // sync_done once the mark is stored: a client that reconnects
            // right after it is not sent the same watermarks again.
            self->receipts_loading_ = true;
            std::weak_ptr<DeviceSession> weak = self;
            self->messaging_.receipts_seen(self->who_, r->seen_at, [weak, generation] {
                auto self = weak.lock();
                if (!self) return;
                self->on_strand([self, generation] {
                    self->receipts_loading_ = false;
                    if (self->closed_) return;
                    if (generation != self->pull_generation_) return self->maybe_finish_sync();
                    self->finish_sync();
                });
            });
        });
    });
}

void DeviceSession::finish_sync() {
    if (!sync_pending_) return;
    sync_pending_ = false;
    push(std::make_shared<const std::string>(sync_done_frame(in_flight_.size(), truncated_)));
    // Cleared only once told: a connection lost before this keeps the mark.
    if (truncated_) messaging_.clear_truncated(who_);
    truncated_ = false;
}

std::function<void(Result<Ok>)> DeviceSession::error_reply(const std::string& request_id) {
    std::weak_ptr<DeviceSession> weak = weak_from_this();
    return [weak, request_id](Result<Ok> r) {
        if (r) return;
        if (auto self = weak.lock()) self->reply_error(request_id, r.error());
    };
}

void DeviceSession::on_notice(std::shared_ptr<const std::string> frame) {
    std::weak_ptr<DeviceSession> weak = weak_from_this();
    on_strand([weak, frame = std::move(frame)]() mutable {
        if (auto self = weak.lock(); self && !self->closed_) self->push(std::move(frame));
    });
}

void DeviceSession::handle_read(const std::string& request_id, const json& frame) {
    std::optional<std::string> conversation_id;
    if (auto e = get_string(frame, "conversation_id", conversation_id)) return reply_error(request_id, *e);
    if (!conversation_id) return reply_error(request_id, err(Code::invalid, "conversation_id is required"));
    auto seq = frame.find("up_to_seq");
    if (seq == frame.end() || !seq->is_number_integer())
        return reply_error(request_id, err(Code::invalid, "up_to_seq must be an integer"));
    messaging_.mark_read(who_, *conversation_id, seq->get<std::int64_t>(), error_reply(request_id));
}

void DeviceSession::handle_typing(const std::string& request_id, const json& frame) {
    if (!presence_) return reply_error(request_id, err(Code::invalid, "unknown frame type"));
    std::optional<std::string> conversation_id, state;
    if (auto e = get_string(frame, "conversation_id", conversation_id)) return reply_error(request_id, *e);
    if (!conversation_id) return reply_error(request_id, err(Code::invalid, "conversation_id is required"));
    if (auto e = get_string(frame, "state", state)) return reply_error(request_id, *e);
    if (!state || (*state != "start" && *state != "stop"))
        return reply_error(request_id, err(Code::invalid, "state must be \"start\" or \"stop\""));
    if (auto wait = typing_bucket_.take(clock_.now_ms())) {
        Error e = err(Code::rate_limited, "too many typing frames: slow down");
        e.retry_after_ms = wait;
        return reply_error(request_id, std::move(e));
    }
    presence_->typing(who_, *conversation_id, *state == "start", error_reply(request_id));
}

void DeviceSession::handle_presence(const std::string& request_id, const json& frame) {
    if (!presence_) return reply_error(request_id, err(Code::invalid, "unknown frame type"));
    auto list = frame.find("users");
    if (list == frame.end() || !list->is_array())
        return reply_error(request_id, err(Code::invalid, "users must be an array of user ids"));
    if (list->size() > limits_.max_presence_users)
        return reply_error(request_id, err(Code::too_large, "at most " + std::to_string(limits_.max_presence_users) +
                                                                " users per presence frame"));
    std::vector<UserId> users;
    for (const auto& j : *list) {
        auto id = get_id(j);
        if (!id) return reply_error(request_id, err(Code::invalid, "users must be an array of user ids"));
        if (std::find(users.begin(), users.end(), *id) == users.end()) users.push_back(*id);
    }
    auto generation = ++watch_generation_;
    if (users.empty()) {
        // Clearing needs no check: done now, in order with later frames.
        watching_.clear();
        registry_.watch(shared_from_this(), users);
        return;
    }
    std::weak_ptr<DeviceSession> weak = weak_from_this();
    // Check, then subscribe, then read the statuses: a change after the
    // subscription arrives as an event, and whichever of the two is newer wins.
    presence_->check_watch(who_, users, [weak, generation, users, request_id](Result<Ok> allowed) {
        auto self = weak.lock();
        if (!self) return;
        self->on_strand([self, generation, users, request_id, allowed = std::move(allowed)] {
            if (self->closed_ || generation != self->watch_generation_) return;  // a newer presence frame won
            if (!allowed) return self->reply_error(request_id, allowed.error());
            // Every user of the new set is shown once more, then its changes.
            self->watching_.clear();
            for (UserId u : users) self->watching_[u] = -1;
            self->registry_.watch(self, users);
            self->read_presence(users);
        });
    });
}

void DeviceSession::read_presence(std::vector<UserId> users) {
    std::weak_ptr<DeviceSession> weak = weak_from_this();
    presence_->status(std::move(users), [weak, generation = watch_generation_](std::vector<PresenceStatus> list) {
        auto self = weak.lock();
        if (!self) return;
        self->on_strand([self, generation, list = std::move(list)] {
            if (self->closed_ || generation != self->watch_generation_) return;  // a newer presence frame won
            for (const auto& s : list)
                self->show_presence(s, std::make_shared<const std::string>(presence_frame(s.user, s.online, s.last_seen)));
        });
    });
}

void DeviceSession::show_presence(const PresenceStatus& s, std::shared_ptr<const std::string> frame) {
    auto it = watching_.find(s.user);
    if (it == watching_.end() || s.changed_at <= it->second) return;  // not watched, or older than shown
    it->second = s.changed_at;
    push(std::move(frame));
}

void DeviceSession::on_presence(UserId user, std::shared_ptr<const BusEvent> ev) {
    std::weak_ptr<DeviceSession> weak = weak_from_this();
    on_strand([weak, user, ev = std::move(ev)] {
        auto self = weak.lock();
        if (!self || self->closed_) return;
        if (ev->kind == BusEvent::Kind::resync) {
            if (self->presence_ && self->watching_.count(user)) self->read_presence({user});
            return;
        }
        PresenceStatus s;
        s.user = user;
        s.changed_at = ev->changed_at;
        self->show_presence(s, ev->frame);
    });
}

}  // namespace natter
