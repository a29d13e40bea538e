#include "sessions/device_session.hpp"

#include <nlohmann/json.hpp>

#include "chat/frames.hpp"
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

DeviceSession::DeviceSession(Principal who, std::weak_ptr<Connection> conn, MessagingService& messaging,
                             SessionRegistry& registry, const Limits& limits, const Clock& clock)
    : who_(who),
      conn_(std::move(conn)),
      messaging_(messaging),
      registry_(registry),
      limits_(limits),
      clock_(clock),
      frame_bucket_(limits.frame_rate_per_s, limits.frame_burst) {}

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
    maybe_pull();
}

void DeviceSession::on_closed() {
    if (closed_) return;
    closed_ = true;
    registry_.detach(this);
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
    json frame = json::parse(text, nullptr, false);
    if (frame.is_discarded()) return reply_error("", err(Code::invalid, "frame is not valid JSON (or not UTF-8)"));
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
    std::weak_ptr<DeviceSession> weak = weak_from_this();
    messaging_.send(who_, std::move(cmd), [weak, request_id](Result<StoredMessage> r) {
        auto self = weak.lock();
        if (!self) return;
        auto frame = std::make_shared<const std::string>(r ? sent_frame(request_id, *r) : error_frame(request_id, r.error()));
        // Connection::send is safe from any thread; the write is queued on the strand.
        self->push(std::move(frame));
    });
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

void DeviceSession::on_bus(std::shared_ptr<const BusEvent> ev, InboxId inbox_id) {
    std::weak_ptr<DeviceSession> weak = weak_from_this();
    on_strand([weak, ev = std::move(ev), inbox_id]() mutable {
        if (auto self = weak.lock()) self->deliver(std::move(ev), inbox_id);
    });
}

void DeviceSession::deliver(std::shared_ptr<const BusEvent> ev, InboxId inbox_id) {
    if (closed_ || inbox_id <= cursor_) return;  // already pushed on this socket
    if (caught_up_ && !pulling_ && in_flight_.size() < limits_.push_window) {
        cursor_ = inbox_id;
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
    if (caught_up_ && sync_pending_) {
        sync_pending_ = false;
        push(std::make_shared<const std::string>(sync_done_frame(in_flight_.size(), truncated_)));
        // Cleared only once told: a connection lost before this keeps the mark.
        if (truncated_) messaging_.clear_truncated(who_);
        truncated_ = false;
    }
    maybe_pull();
}

}  // namespace natter
