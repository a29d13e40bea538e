// The PostgreSQL store's account deletion, across the shards an account
// touches (docs/SCALE.md, "What lives where"), in an order that is safe to
// cut anywhere:
// 1. the user's shard, one transaction: the tombstone (with the username,
//    for step 2), the account row, every device, refresh token, ticket,
//    inbox row and the media quota. From here on the user cannot sign in
//    and nothing can be sent to them.
// 2. the name's shard: the username is free (a claim whose user is gone
//    goes stale anyway, so a failure here only delays that).
// 3. every shard: the user's media rows, their blob keys into the trash;
//    the user's membership of its 1:1 chats (sends to it are refused).
// 4. the user's shard: the tombstone is finished and forgets the username.
// A failure stops the call (unavailable); the tombstone stays unfinished and
// the next delete_user of the user does what is left, each step being
// idempotent.
#include <optional>
#include <string>

#include "adapters/postgres/pg_store_internal.hpp"
#include "obs/log.hpp"

namespace natter::pg {

namespace {

// What step 1 found.
struct Started {
    bool known = false;     // an account, or its tombstone
    bool finished = false;  // the tombstone says every step was done
    std::string username;
};

Started start_deletion(Connection& t, UserId user, std::int64_t now) {
    Started s;
    auto gone = t.exec("DELETE FROM users WHERE user_id=$1 RETURNING username", {Param::id(user)});
    if (!gone.empty()) {
        s.known = true;
        s.username = std::string(gone.text(0, 0));
        t.exec("INSERT INTO deleted_users(user_id, username, deleted_at) VALUES($1,$2,$3) ON CONFLICT (user_id) DO NOTHING",
               {Param::id(user), Param::text(s.username), Param::i64(now)});
    } else {
        auto tomb = t.exec("SELECT username, finished FROM deleted_users WHERE user_id=$1", {Param::id(user)});
        if (tomb.empty()) return s;
        s.known = true;
        s.username = std::string(tomb.text(0, 0));
        s.finished = tomb.boolean(0, 1);
        if (s.finished) return s;
    }
    for (const char* sql : {"DELETE FROM refresh_tokens WHERE user_id=$1", "DELETE FROM ws_tickets WHERE user_id=$1",
                            "DELETE FROM inbox WHERE user_id=$1", "DELETE FROM fanned_out WHERE user_id=$1",
                            "DELETE FROM devices WHERE user_id=$1", "DELETE FROM media_usage WHERE owner=$1"})
        t.exec(sql, {Param::id(user)});
    return s;
}

}  // namespace

Result<Ok> PgStore::delete_user(UserId user, std::int64_t now) {
    try {
        auto s = on(user_shard(user), [&](Connection& c) {
            return c.transaction([&](Connection& t) { return start_deletion(t, user, now); });
        });
        if (!s.known) return err(Code::not_found, "no such user");
        if (s.finished) return Ok{};
        on(name_shard(s.username), [&](Connection& c) {
            c.exec("DELETE FROM usernames WHERE username=$1 AND user_id=$2", {Param::text(s.username), Param::id(user)});
            return 0;
        });
        for (std::size_t shard = 0; shard < pools_.size(); ++shard) {
            on(shard, [&](Connection& c) {
                c.exec("WITH gone AS (DELETE FROM media WHERE owner=$1 RETURNING blob_key) "
                       "INSERT INTO blob_trash(blob_key, queued_at) SELECT blob_key, $2 FROM gone "
                       "ON CONFLICT (blob_key) DO NOTHING",
                       {Param::id(user), Param::i64(now)});
                // Out of its 1:1 chats (their home shards): a send to it is refused there.
                c.exec("DELETE FROM members WHERE user_id=$1 AND conversation_id LIKE 'd:%'", {Param::id(user)});
                return 0;
            });
        }
        on(user_shard(user), [&](Connection& c) {
            c.exec("UPDATE deleted_users SET finished=true, username='' WHERE user_id=$1", {Param::id(user)});
            return 0;
        });
        return Ok{};
    } catch (const Error& e) {
        log_event(LogLevel::warn, "pg_store.delete_user_unfinished", {{"user_id", id_string(user)}, {"error", e.message}});
        return shard_down(e.message);
    }
}

bool PgStore::user_deleted(UserId user) {
    return on(user_shard(user), [&](Connection& c) {
        return !c.exec("SELECT 1 FROM deleted_users WHERE user_id=$1", {Param::id(user)}).empty();
    });
}

std::vector<UserId> PgStore::unfinished_deletions(std::size_t batch) {
    std::vector<UserId> out;
    for (std::size_t shard = 0; shard < pools_.size() && out.size() < batch; ++shard) {
        try {
            auto r = on(shard, [&](Connection& c) {
                return c.exec("SELECT user_id FROM deleted_users WHERE NOT finished ORDER BY user_id LIMIT $1",
                              {Param::i64(static_cast<std::int64_t>(batch - out.size()))});
            });
            for (int i = 0; i < r.size(); ++i) out.push_back(r.id(i, 0));
        } catch (const Error& e) {
            // That shard's users wait for a sweep that reaches it.
            log_event(LogLevel::warn, "pg_store.unfinished_deletions_deferred", {{"error", e.message}});
        }
    }
    return out;
}

}  // namespace natter::pg
