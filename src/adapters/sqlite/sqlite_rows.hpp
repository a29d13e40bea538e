#pragma once
// Internal to the SQLite adapter: reading rows into the port's records.
#include <string>

#include "adapters/sqlite/sqlite_db.hpp"
#include "ports/store.hpp"

namespace natter::sqlite {

constexpr const char* kMessageColumns =
    "m.message_id, m.client_msg_id, m.conversation_id, m.seq, m.prev_message_id, m.kind, m.from_user, "
    "m.from_device, m.to_json, m.body, m.attachment, m.event, m.ts";

inline MessageKind parse_kind(const std::string& k) {
    if (k == "image") return MessageKind::image;
    if (k == "system") return MessageKind::system;
    return MessageKind::text;
}

// Reads kMessageColumns starting at column `c`.
inline StoredMessage message_from(const Stmt& st, int c) {
    StoredMessage m;
    m.message_id = st.u64(c + 0);
    m.client_msg_id = st.text(c + 1);
    m.conversation_id = st.text(c + 2);
    m.seq = st.i64(c + 3);
    m.prev_message_id = st.u64(c + 4);
    m.kind = parse_kind(st.text(c + 5));
    m.from_user = st.u64(c + 6);
    m.from_device = st.u64(c + 7);
    m.to_json = st.text(c + 8);
    m.body = st.text(c + 9);
    m.attachment_json = st.text(c + 10);
    m.event_json = st.text(c + 11);
    m.ts = st.i64(c + 12);
    return m;
}

inline UserRecord user_from(const Stmt& st) {
    UserRecord u;
    u.user_id = st.u64(0);
    u.username = st.text(1);
    u.password_hash = st.text(2);
    u.display_name = st.text(3);
    u.description = st.text(4);
    if (!st.is_null(5)) u.avatar_media_id = st.u64(5);
    u.created_at = st.i64(6);
    return u;
}

inline DeviceRecord device_from(const Stmt& st) {
    DeviceRecord d;
    d.user_id = st.u64(0);
    d.device_id = st.u64(1);
    d.device_name = st.text(2);
    d.generation = st.i64(3);
    d.created_at = st.i64(4);
    d.last_seen = st.i64(5);
    return d;
}

constexpr const char* kUserSelect =
    "SELECT user_id, username, password_hash, display_name, description, avatar_media_id, created_at FROM users ";
constexpr const char* kDeviceSelect =
    "SELECT user_id, device_id, device_name, generation, created_at, last_seen FROM devices ";

}  // namespace natter::sqlite
