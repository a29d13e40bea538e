#pragma once
// Internal to the PostgreSQL store's files: reading rows into the ports'
// records, parameters, and PgStore::on.
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "adapters/postgres/pg_conn.hpp"
#include "adapters/postgres/pg_pool.hpp"
#include "adapters/postgres/pg_store.hpp"

namespace natter::pg {

inline std::vector<std::string> shard_names(const std::vector<ShardConfig>& shards) {
    std::vector<std::string> names;
    for (const auto& s : shards) names.push_back(s.name);
    return names;
}

inline constexpr const char* kUserColumns =
    "user_id, username, password_hash, display_name, description, avatar_media_id, created_at";
inline constexpr const char* kDeviceColumns = "user_id, device_id, device_name, generation, created_at, last_seen";

inline UserRecord user_from(const Rows& r, int row) {
    UserRecord u;
    u.user_id = r.id(row, 0);
    u.username = std::string(r.text(row, 1));
    u.password_hash = std::string(r.text(row, 2));
    u.display_name = std::string(r.text(row, 3));
    u.description = std::string(r.text(row, 4));
    if (!r.is_null(row, 5)) u.avatar_media_id = r.id(row, 5);
    u.created_at = r.i64(row, 6);
    return u;
}

inline DeviceRecord device_from(const Rows& r, int row) {
    DeviceRecord d;
    d.user_id = r.id(row, 0);
    d.device_id = r.id(row, 1);
    d.device_name = std::string(r.text(row, 2));
    d.generation = r.i64(row, 3);
    d.created_at = r.i64(row, 4);
    d.last_seen = r.i64(row, 5);
    return d;
}

inline std::optional<DeviceRecord> load_device(Connection& c, UserId user, DeviceId device) {
    auto r = c.exec(std::string("SELECT ") + kDeviceColumns + " FROM devices WHERE user_id=$1 AND device_id=$2",
                    {Param::id(user), Param::id(device)});
    if (r.empty()) return std::nullopt;
    return device_from(r, 0);
}

inline bool revoke_in(Connection& c, UserId user, DeviceId device) {
    auto r = c.exec("UPDATE devices SET generation=generation+1 WHERE user_id=$1 AND device_id=$2",
                    {Param::id(user), Param::id(device)});
    c.exec("DELETE FROM refresh_tokens WHERE user_id=$1 AND device_id=$2", {Param::id(user), Param::id(device)});
    c.exec("DELETE FROM ws_tickets WHERE user_id=$1 AND device_id=$2", {Param::id(user), Param::id(device)});
    return r.affected() > 0;
}

inline constexpr const char* kMessageColumns =
    "message_id, client_msg_id, conversation_id, seq, prev_message_id, kind, from_user, from_device, to_json, body, "
    "attachment, event, ts";

inline MessageKind parse_kind(std::string_view k) {
    if (k == "image") return MessageKind::image;
    if (k == "system") return MessageKind::system;
    return MessageKind::text;
}

// Reads kMessageColumns starting at column `c`.
inline StoredMessage message_from(const Rows& r, int row, int c) {
    StoredMessage m;
    m.message_id = r.id(row, c + 0);
    m.client_msg_id = std::string(r.text(row, c + 1));
    m.conversation_id = std::string(r.text(row, c + 2));
    m.seq = r.i64(row, c + 3);
    m.prev_message_id = r.id(row, c + 4);
    m.kind = parse_kind(r.text(row, c + 5));
    m.from_user = r.id(row, c + 6);
    m.from_device = r.id(row, c + 7);
    m.to_json = std::string(r.text(row, c + 8));
    m.body = std::string(r.text(row, c + 9));
    m.attachment_json = std::string(r.text(row, c + 10));
    m.event_json = std::string(r.text(row, c + 11));
    m.ts = r.i64(row, c + 12);
    return m;
}

inline Param text_or_null(const std::string& s) { return s.empty() ? Param::null() : Param::text(s); }

// A bigint[] parameter in PostgreSQL's array text form: {1,2,3}.
inline Param id_array(const std::vector<std::uint64_t>& ids) {
    std::string out = "{";
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (i) out += ',';
        out += std::to_string(to_db(ids[i]));
    }
    return Param::text(out + "}");
}


// A username claim older than this whose user never appeared is a leftover
// of a create_user cut off between its two writes: it may be taken again.
inline constexpr std::int64_t kStaleClaimMs = 60'000;


// A member's receipt watermarks, and who a move of them covers: shared by
// acks (delivered) and mark_read, both on the conversation's home shard.
struct Marks {
    std::int64_t delivered = 0, read = 0;
    std::int64_t before_join = 0;  // joined_seq - 1: a move is news only from there
};

inline std::optional<Marks> marks_of(Connection& c, const std::string& conversation_id, UserId user, bool for_update) {
    auto r = c.exec(std::string("SELECT delivered_seq, read_seq, joined_seq FROM members WHERE conversation_id=$1 AND user_id=$2") +
                        (for_update ? " FOR UPDATE" : ""),
                    {Param::text(conversation_id), Param::id(user)});
    if (r.empty()) return std::nullopt;
    return Marks{r.i64(0, 0), r.i64(0, 1), std::max<std::int64_t>(0, r.i64(0, 2) - 1)};
}

// The members other than `by` who sent (non-system) messages with from < seq <= to.
inline std::vector<UserId> senders_between(Connection& c, const std::string& conversation_id, std::int64_t from, std::int64_t to,
                                    UserId by) {
    auto r = c.exec("SELECT DISTINCT from_user FROM messages WHERE conversation_id=$1 AND seq>$2 AND seq<=$3 "
                    "AND from_user<>$4 AND kind<>'system' AND from_user IN "
                    "(SELECT user_id FROM members WHERE conversation_id=$1)",
                    {Param::text(conversation_id), Param::i64(from), Param::i64(to), Param::id(by)});
    std::vector<UserId> out;
    for (int i = 0; i < r.size(); ++i) out.push_back(r.id(i, 0));
    return out;
}

// `unavailable` for a shard that does not answer, with when to retry (the
// pool's window of taking a shard as down, PoolOptions::down_for).
inline natter::Error shard_down(const std::string& message) {
    auto e = err(Code::unavailable, "a store shard does not answer; retry: " + message);
    e.retry_after_ms = 1000;
    return e;
}

// Runs fn(connection) on a leased connection of `shard`.
template <class F>
auto PgStore::on(std::size_t shard, F&& fn) -> decltype(fn(std::declval<Connection&>())) {
    auto lease = pools_.at(shard)->lease();
    return fn(*lease);
}

}  // namespace natter::pg
