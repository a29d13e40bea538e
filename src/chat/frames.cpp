#include "chat/frames.hpp"

#include <nlohmann/json.hpp>

namespace natter {

using nlohmann::json;

namespace {
// Messages may quote client input cut at a byte limit: never throw on it.
std::string safe_dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void put_id(json& j, const std::string& request_id) {
    if (!request_id.empty()) j["id"] = request_id;
}
}  // namespace

namespace {
json message_json(const StoredMessage& m) {
    json j = {
        {"message_id", id_string(m.message_id)},
        {"client_msg_id", m.client_msg_id},
        {"conversation_id", m.conversation_id},
        {"seq", m.seq},
        {"prev_message_id", id_string(m.prev_message_id)},
        {"kind", kind_name(m.kind)},
        {"from", {{"user", id_string(m.from_user)}, {"device", id_string(m.from_device)}}},
        {"to", json::parse(m.to_json)},
        {"ts", m.ts},
    };
    if (!m.body.empty()) j["body"] = m.body;
    if (!m.attachment_json.empty()) j["attachment"] = json::parse(m.attachment_json);
    if (!m.event_json.empty()) j["event"] = json::parse(m.event_json);
    return j;
}
}  // namespace

std::string message_frame(const StoredMessage& m) {
    json j = message_json(m);
    j["type"] = "message";
    return safe_dump(j);
}

std::string message_object(const StoredMessage& m) { return safe_dump(message_json(m)); }

std::string sent_frame(const std::string& request_id, const StoredMessage& m) {
    json j = {
        {"type", "sent"},
        {"client_msg_id", m.client_msg_id},
        {"message_id", id_string(m.message_id)},
        {"conversation_id", m.conversation_id},
        {"seq", m.seq},
        {"prev_message_id", id_string(m.prev_message_id)},
        {"ts", m.ts},
    };
    put_id(j, request_id);
    return safe_dump(j);
}

std::string error_frame(const std::string& request_id, const Error& e) {
    json j = {{"type", "error"}, {"code", code_name(e.code)}, {"message", e.message}};
    // rate_limited always says how long; unavailable when the store knows (a shard down).
    if (e.code == Code::rate_limited || (e.code == Code::unavailable && e.retry_after_ms > 0))
        j["retry_after_ms"] = e.retry_after_ms;
    put_id(j, request_id);
    return safe_dump(j);
}

std::string pong_frame(const std::string& request_id) {
    json j = {{"type", "pong"}};
    put_id(j, request_id);
    return safe_dump(j);
}

std::string sync_done_frame(std::size_t remaining, bool truncated) {
    json j = {{"type", "sync_done"}, {"remaining", remaining}};
    if (truncated) j["truncated"] = true;
    return j.dump();
}

std::string receipt_frame(const std::string& conversation_id, UserId by, bool read, std::int64_t up_to_seq) {
    json j = {{"type", "receipt"},
              {"conversation_id", conversation_id},
              {"by", id_string(by)},
              {"status", read ? "read" : "delivered"},
              {"up_to_seq", up_to_seq}};
    return safe_dump(j);
}

std::string typing_frame(const std::string& conversation_id, UserId user, bool typing) {
    json j = {{"type", "typing"}, {"conversation_id", conversation_id}, {"user", id_string(user)},
              {"state", typing ? "start" : "stop"}};
    return safe_dump(j);
}

std::string presence_frame(UserId user, bool online, std::int64_t last_seen) {
    json j = {{"type", "presence"}, {"user", id_string(user)}, {"status", online ? "online" : "offline"}};
    if (last_seen > 0) j["last_seen"] = last_seen;
    return safe_dump(j);
}

}  // namespace natter
