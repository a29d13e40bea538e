// The PostgreSQL store's media records and retention sweeps.
//
// Placement (docs/SCALE.md, "What lives where"): a media row, and the blob
// key it leaves in the blob trash, on the shard of "media:<id>"; the bytes an
// owner keeps, for the quota, in media_usage on the owner's user shard; the
// user's avatar_media_id on the user's shard, mirrored by media.avatar_of on
// the media's shard (so "is it someone's avatar" is read where the media is).
//
// What only other shards can answer is asked of every shard, one query per
// shard per batch ("Reads that cross shards"):
// - may_download: does a conversation of the user hold a message using the
//   media (messages and members live on the conversations' home shards);
// - expire_media: does any message still use a media that was used once;
// - expire_history: does any inbox row still wait for the message (inbox
//   rows carry a copy, but history stays while one waits, as on SQLite);
// - blob_trash, forget_trash: the trash of every media shard.
// A shard that does not answer leaves its own rows for a later sweep; a
// check that a shard cannot answer deletes nothing it would have covered.
#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <utility>

#include "adapters/postgres/pg_store_internal.hpp"
#include "obs/log.hpp"

namespace natter::pg {

namespace {

constexpr const char* kMediaColumns = "media_id, owner, mime, size, blob_key, created_at, verified, referenced_at";

MediaRecord media_from(const Rows& r, int row) {
    MediaRecord m;
    m.media_id = r.id(row, 0);
    m.owner = r.id(row, 1);
    m.mime = std::string(r.text(row, 2));
    m.size = static_cast<std::uint64_t>(r.i64(row, 3));
    m.key = std::string(r.text(row, 4));
    m.created_at = r.i64(row, 5);
    m.verified = r.boolean(row, 6);
    m.referenced_at = r.i64(row, 7);
    return m;
}

// Sizes and quotas are uint64 in the ports, bigint here.
std::int64_t clamp_i64(std::uint64_t v) { return v > std::uint64_t(INT64_MAX) ? INT64_MAX : std::int64_t(v); }

// A text[] parameter in PostgreSQL's array text form: {"a","b"}.
Param text_array(const std::vector<std::string>& items) {
    std::string out = "{";
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) out += ',';
        out += '"';
        for (char ch : items[i]) {
            if (ch == '"' || ch == '\\') out += '\\';
            out += ch;
        }
        out += '"';
    }
    return Param::text(out + "}");
}

}  // namespace

std::size_t PgStore::media_shard(std::uint64_t media_id) const { return ring_.shard_of("media:" + std::to_string(media_id)); }

// ---- records and the quota

Result<Ok> PgStore::add_media(const MediaRecord& m, std::uint64_t quota_bytes) {
    const std::size_t owner_shard = user_shard(m.owner);
    const std::int64_t size = clamp_i64(m.size), quota = clamp_i64(quota_bytes);
    try {
        // 1. The bytes, on the owner's shard: added only while the total
        // stays within the quota, in one statement, so two uploads at once
        // cannot both pass it.
        bool reserved = on(owner_shard, [&](Connection& c) {
            return c.exec("INSERT INTO media_usage AS u (owner, bytes) SELECT $1::bigint, $2::bigint WHERE $2::bigint <= $3::bigint "
                          "ON CONFLICT (owner) DO UPDATE SET bytes = u.bytes + EXCLUDED.bytes "
                          "WHERE u.bytes::numeric + EXCLUDED.bytes <= $3::bigint RETURNING bytes",
                          {Param::id(m.owner), Param::i64(size), Param::i64(quota)})
                       .size() == 1;
        });
        if (!reserved) {
            auto used = on(owner_shard, [&](Connection& c) {
                auto r = c.exec("SELECT bytes FROM media_usage WHERE owner=$1", {Param::id(m.owner)});
                return r.empty() ? std::int64_t(0) : r.i64(0, 0);
            });
            return err(Code::too_large, "storage quota reached: " + std::to_string(used) + " of " +
                                            std::to_string(quota_bytes) +
                                            " bytes used; media you sent expires with its messages");
        }
        // 2. The record, on the media's shard. If it is not written, the
        // bytes go back (a node dying in between leaves them counted).
        try {
            on(media_shard(m.media_id), [&](Connection& c) {
                c.exec("INSERT INTO media(media_id, owner, mime, size, blob_key, created_at) VALUES($1,$2,$3,$4,$5,$6)",
                       {Param::id(m.media_id), Param::id(m.owner), Param::text(m.mime), Param::i64(size),
                        Param::text(m.key), Param::i64(m.created_at)});
                return 0;
            });
        } catch (const Error&) {
            try {
                on(owner_shard, [&](Connection& c) {
                    c.exec("UPDATE media_usage SET bytes=greatest(bytes-$2, 0) WHERE owner=$1",
                           {Param::id(m.owner), Param::i64(size)});
                    return 0;
                });
            } catch (const Error& e) {
                log_event(LogLevel::warn, "pg_store.media_usage_kept",
                          {{"owner", id_string(m.owner)}, {"bytes", size}, {"error", e.message}});
            }
            throw;
        }
        return Ok{};
    } catch (const Error& e) {
        return err(Code::unavailable, std::string("store write failed: ") + e.message);
    }
}

std::optional<MediaRecord> PgStore::media(std::uint64_t media_id) {
    return on(media_shard(media_id), [&](Connection& c) -> std::optional<MediaRecord> {
        auto r = c.exec(std::string("SELECT ") + kMediaColumns + " FROM media WHERE media_id=$1", {Param::id(media_id)});
        if (r.empty()) return std::nullopt;
        return media_from(r, 0);
    });
}

void PgStore::mark_verified(std::uint64_t media_id) {
    on(media_shard(media_id), [&](Connection& c) {
        c.exec("UPDATE media SET verified=true WHERE media_id=$1", {Param::id(media_id)});
        return 0;
    });
}

// ---- avatars and downloads

Result<Ok> PgStore::set_avatar(UserId owner, std::optional<std::uint64_t> media_id, std::int64_t now) {
    try {
        // 1. The new avatar first, on its shard: the owner's, verified, and
        // marked, so the user's row never names a media that is not shown to
        // everyone or that the sweep may take. (Marked but not named, when
        // step 2 fails: it stays public and kept until set again.)
        if (media_id) {
            bool marked = on(media_shard(*media_id), [&](Connection& c) {
                return c.exec("UPDATE media SET avatar_of=$2, "
                              "referenced_at=CASE WHEN referenced_at=0 THEN $3 ELSE referenced_at END "
                              "WHERE media_id=$1 AND owner=$2 AND verified",
                              {Param::id(*media_id), Param::id(owner), Param::i64(now)})
                           .affected() == 1;
            });
            if (!marked) return err(Code::not_found, "no such media of yours (it may have expired)");
        }
        // 2. The user's row, and the avatar it names no more.
        auto replaced = on(user_shard(owner), [&](Connection& c) {
            return c.transaction([&](Connection& t) -> std::optional<std::optional<std::uint64_t>> {
                auto r = t.exec("SELECT avatar_media_id FROM users WHERE user_id=$1 FOR UPDATE", {Param::id(owner)});
                if (r.empty()) return std::nullopt;
                std::optional<std::uint64_t> old;
                if (!r.is_null(0, 0)) old = r.id(0, 0);
                t.exec("UPDATE users SET avatar_media_id=$2 WHERE user_id=$1",
                       {Param::id(owner), media_id ? Param::id(*media_id) : Param::null()});
                return old;
            });
        });
        auto unmark = [&](std::uint64_t id) {
            on(media_shard(id), [&](Connection& c) {
                c.exec("UPDATE media SET avatar_of=NULL WHERE media_id=$1 AND avatar_of=$2", {Param::id(id), Param::id(owner)});
                return 0;
            });
        };
        if (!replaced) {
            if (media_id) unmark(*media_id);
            return err(Code::not_found, "no such user");
        }
        // 3. The old one is no avatar any more: private again, and swept once
        // no message uses it. If this fails it stays public and kept.
        if (auto old = *replaced; old && old != media_id) {
            try {
                unmark(*old);
            } catch (const Error& e) {
                log_event(LogLevel::warn, "pg_store.avatar_unmark_failed",
                          {{"media_id", id_string(*old)}, {"owner", id_string(owner)}, {"error", e.message}});
            }
        }
        return Ok{};
    } catch (const Error& e) {
        return err(Code::unavailable, std::string("store write failed: ") + e.message);
    }
}

bool PgStore::may_download(std::uint64_t media_id, UserId user) {
    auto r = on(media_shard(media_id), [&](Connection& c) {
        return c.exec("SELECT owner, avatar_of IS NOT NULL FROM media WHERE media_id=$1", {Param::id(media_id)});
    });
    if (r.empty()) return false;
    if (r.id(0, 0) == user || r.boolean(0, 1)) return true;
    // A message using it in one of the user's conversations, from the
    // user's joined_seq on: those live on the conversations' home shards.
    std::optional<Error> failed;
    for (std::size_t shard = 0; shard < pools_.size(); ++shard) {
        try {
            bool found = on(shard, [&](Connection& c) {
                return c.exec("SELECT EXISTS(SELECT 1 FROM messages m JOIN members mb ON mb.conversation_id=m.conversation_id "
                              "WHERE m.media_id=$1 AND mb.user_id=$2 AND m.seq>=mb.joined_seq)",
                              {Param::id(media_id), Param::id(user)})
                    .boolean(0, 0);
            });
            if (found) return true;
        } catch (const Error& e) {
            failed = e;  // a "no" is not known while a shard did not answer
        }
    }
    if (failed) throw *failed;
    return false;
}

// ---- sweeping media

namespace {

// Goes once round one shard's candidate rows in key order, a page at a
// time: from just after the shard's cursor to the last row, then from the
// first row up to the cursor. `fetch(after, upto)` reads the next page
// (after < key <= upto; a null bound: none); `take(page)` says how many of
// its leading rows it looked at: all of them to go on, fewer when it has
// enough. The cursor keeps the last row looked at, so a sweep's next call
// goes on from there and reads the rows it keeps once per round, not once
// per batch; it is cleared when a round ends.
template <class Cursor, class Fetch, class Take>
void go_round(std::mutex& mu, std::vector<Cursor>& cursors, std::size_t shards, std::size_t shard, Fetch fetch, Take take) {
    Cursor start;
    {
        std::lock_guard lock(mu);
        if (cursors.size() < shards) cursors.resize(shards);
        start = cursors[shard];
    }
    auto save = [&](const Cursor& at) {
        std::lock_guard lock(mu);
        cursors[shard] = at;
    };
    Cursor last = start;
    const Cursor* after = start.set ? &last : nullptr;
    const Cursor* upto = nullptr;
    bool wrapped = !start.set;
    for (;;) {
        std::vector<Cursor> page = fetch(after, upto);
        if (page.empty()) {
            if (wrapped) {
                save(Cursor{});
                return;
            }
            wrapped = true;
            after = nullptr;
            upto = &start;
            continue;
        }
        std::size_t looked = take(page);
        if (looked > 0) save(page[looked - 1]);
        if (looked < page.size()) return;
        last = page.back();
        after = &last;
    }
}

}  // namespace

void PgStore::expire_forgotten_media(std::size_t shard, std::int64_t queued_at, std::size_t batch,
                                     std::vector<MediaRecord>& out) {
    if (out.size() >= batch) return;
    go_round(
        sweep_mu_, media_cursor_, pools_.size(), shard,
        [&](const SweepCursor* after, const SweepCursor* upto) {
            std::string sql = "SELECT media_id FROM media WHERE referenced_at>0 AND avatar_of IS NULL";
            std::vector<Param> params;
            if (after) {
                params.push_back(Param::i64(after->id));
                sql += " AND media_id>$" + std::to_string(params.size());
            }
            if (upto) {
                params.push_back(Param::i64(upto->id));
                sql += " AND media_id<=$" + std::to_string(params.size());
            }
            params.push_back(Param::i64(std::int64_t(batch)));
            sql += " ORDER BY media_id LIMIT $" + std::to_string(params.size());
            auto r = on(shard, [&](Connection& c) { return c.exec(sql, params); });
            std::vector<SweepCursor> page;
            for (int i = 0; i < r.size(); ++i) page.push_back(SweepCursor{true, 0, r.i64(i, 0)});
            return page;
        },
        [&](const std::vector<SweepCursor>& page) -> std::size_t {
            if (out.size() >= batch) return 0;  // the last page filled the batch
            std::vector<std::uint64_t> ids;
            for (const auto& k : page) ids.push_back(from_db(k.id));
            // A message on any shard (its conversation's home) still using it
            // keeps it: one query per shard for the page.
            std::set<std::uint64_t> used;
            for (std::size_t s = 0; s < pools_.size(); ++s) {
                auto r = on(s, [&](Connection& c) {
                    return c.exec("SELECT DISTINCT media_id FROM messages WHERE media_id = ANY($1::bigint[])", {id_array(ids)});
                });
                for (int i = 0; i < r.size(); ++i) used.insert(r.id(i, 0));
            }
            std::vector<std::uint64_t> gone;
            std::size_t looked = 0;
            for (; looked < ids.size() && out.size() + gone.size() < batch; ++looked)
                if (!used.count(ids[looked])) gone.push_back(ids[looked]);
            if (gone.empty()) return looked;
            // Checked again as they go (an avatar since, or gone already); the
            // rows and their blob keys in the trash in one statement. A send
            // that took the media just before the check and commits its
            // message just after it may still lose the media: the window of
            // one send, which the single-writer SQLite store does not have.
            auto r = on(shard, [&](Connection& c) {
                return c.exec(std::string("WITH gone AS (DELETE FROM media WHERE media_id = ANY($1::bigint[]) "
                                          "AND referenced_at>0 AND avatar_of IS NULL RETURNING ") + kMediaColumns + "), "
                              "trash AS (INSERT INTO blob_trash(blob_key, queued_at) SELECT blob_key, $2 FROM gone "
                              "ON CONFLICT (blob_key) DO NOTHING) "
                              "SELECT " + kMediaColumns + " FROM gone ORDER BY media_id",
                              {id_array(gone), Param::i64(queued_at)});
            });
            for (int i = 0; i < r.size(); ++i) out.push_back(media_from(r, i));
            return looked;
        });
}

std::vector<MediaRecord> PgStore::expire_media(std::int64_t unused_before, std::size_t batch) {
    std::vector<MediaRecord> out;
    for (std::size_t shard = 0; shard < pools_.size() && out.size() < batch; ++shard) {
        try {
            // Never used and past the grace: a send or an avatar marks a media
            // (referenced_at) before it uses it, so no other shard is asked.
            // The row and its blob key in the trash go in one statement.
            auto r = on(shard, [&](Connection& c) {
                return c.exec(std::string("WITH gone AS (DELETE FROM media WHERE media_id IN (SELECT media_id FROM media "
                                          "WHERE referenced_at=0 AND created_at<$1 AND avatar_of IS NULL "
                                          "ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING ") + kMediaColumns + "), "
                              "trash AS (INSERT INTO blob_trash(blob_key, queued_at) SELECT blob_key, $1 FROM gone "
                              "ON CONFLICT (blob_key) DO NOTHING) "
                              "SELECT " + kMediaColumns + " FROM gone ORDER BY created_at, media_id",
                              {Param::i64(unused_before), Param::i64(std::int64_t(batch - out.size()))});
            });
            for (int i = 0; i < r.size(); ++i) out.push_back(media_from(r, i));
            // Used once, no longer by any message (retention took them) nor
            // an avatar: every shard is asked, a page at a time.
            expire_forgotten_media(shard, unused_before, batch, out);
        } catch (const Error& e) {
            log_event(LogLevel::warn, "pg_store.expire_media_deferred",
                      {{"shard", config_.shards[shard].name}, {"error", e.message}});
        }
    }
    // Their bytes go back to their owners' quotas, one statement per user
    // shard. If that fails the quota keeps counting them (in the user's
    // disfavour, never past the quota).
    std::map<std::size_t, std::map<UserId, std::uint64_t>> bytes;
    for (const auto& m : out) bytes[user_shard(m.owner)][m.owner] += m.size;
    for (const auto& [shard, owners] : bytes) {
        std::vector<std::uint64_t> who, how_much;
        for (const auto& [owner, n] : owners) {
            who.push_back(owner);
            how_much.push_back(n);
        }
        try {
            on(shard, [&](Connection& c) {
                c.exec("UPDATE media_usage u SET bytes=greatest(u.bytes-d.bytes, 0) "
                       "FROM unnest($1::bigint[], $2::bigint[]) AS d(owner, bytes) WHERE u.owner=d.owner",
                       {id_array(who), id_array(how_much)});
                return 0;
            });
        } catch (const Error& e) {
            log_event(LogLevel::warn, "pg_store.media_usage_kept",
                      {{"shard", config_.shards[shard].name}, {"owners", who.size()}, {"error", e.message}});
        }
    }
    return out;
}

std::vector<std::string> PgStore::blob_trash(std::size_t batch) {
    std::vector<std::pair<std::int64_t, std::string>> all;
    for (std::size_t shard = 0; shard < pools_.size(); ++shard) {
        try {
            auto r = on(shard, [&](Connection& c) {
                return c.exec("SELECT queued_at, blob_key FROM blob_trash ORDER BY queued_at, blob_key LIMIT $1",
                              {Param::i64(std::int64_t(batch))});
            });
            for (int i = 0; i < r.size(); ++i) all.emplace_back(r.i64(i, 0), std::string(r.text(i, 1)));
        } catch (const Error& e) {
            // Its keys wait for the next sweep.
            log_event(LogLevel::warn, "pg_store.blob_trash_deferred",
                      {{"shard", config_.shards[shard].name}, {"error", e.message}});
        }
    }
    std::sort(all.begin(), all.end());
    std::vector<std::string> out;
    for (auto& [_, key] : all) {
        if (out.size() == batch) break;
        out.push_back(std::move(key));
    }
    return out;
}

void PgStore::forget_trash(const std::vector<std::string>& keys) {
    if (keys.empty()) return;
    // A key names no shard: each forgets those it holds.
    for (std::size_t shard = 0; shard < pools_.size(); ++shard) {
        try {
            on(shard, [&](Connection& c) {
                c.exec("DELETE FROM blob_trash WHERE blob_key = ANY($1::text[])", {text_array(keys)});
                return 0;
            });
        } catch (const Error& e) {
            // Listed again later; removing a blob twice is harmless.
            log_event(LogLevel::warn, "pg_store.forget_trash_deferred",
                      {{"shard", config_.shards[shard].name}, {"error", e.message}});
        }
    }
}

// ---- retention: per shard, at most `batch` rows per call in all, each
// statement a short one (SKIP LOCKED: a row a send or an ack holds waits for
// the next sweep instead of the sweep waiting for it).

std::size_t PgStore::expire_inbox(std::int64_t cutoff, std::size_t batch) {
    std::size_t done = 0;
    // A fan-out marker matters only while its message's outbox row may still
    // make a fan-out run again: markers older than the oldest outbox row on
    // every shard (and than ten minutes, for sends committing right now)
    // can go. With a shard not answering, only those past `cutoff`.
    std::int64_t markers_before = std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::system_clock::now().time_since_epoch()).count() - 10 * 60 * 1000;
    for (std::size_t shard = 0; shard < pools_.size(); ++shard) {
        try {
            auto oldest = on(shard, [&](Connection& c) { return c.exec("SELECT min(created_at) FROM outbox"); });
            if (!oldest.is_null(0, 0)) markers_before = std::min(markers_before, oldest.i64(0, 0));
        } catch (const Error&) {
            markers_before = std::min(markers_before, cutoff);
            break;
        }
    }
    for (std::size_t shard = 0; shard < pools_.size() && done < batch; ++shard) {
        try {
            // A device's rows are on its user's shard, beside the device.
            done += on(shard, [&](Connection& c) {
                return static_cast<std::size_t>(
                    c.exec("WITH gone AS (DELETE FROM inbox WHERE inbox_id IN (SELECT inbox_id FROM inbox WHERE created_at<$1 "
                           "ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING user_id, device_id), "
                           "marked AS (UPDATE devices d SET inbox_truncated=true "
                           "FROM (SELECT DISTINCT user_id, device_id FROM gone) g "
                           "WHERE d.user_id=g.user_id AND d.device_id=g.device_id) "
                           "SELECT count(*) FROM gone",
                           {Param::i64(cutoff), Param::i64(std::int64_t(batch - done))})
                        .i64(0, 0));
            });
            // One marker per recipient per message: batches until one comes
            // back short (nodes sweeping at once skip each other's rows).
            for (int round = 0; round < 1000; ++round) {
                auto gone = on(shard, [&](Connection& c) {
                    return c.exec("DELETE FROM fanned_out WHERE (user_id, message_id) IN (SELECT user_id, message_id "
                                  "FROM fanned_out WHERE created_at<$1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
                                  {Param::i64(markers_before), Param::i64(std::int64_t(batch))})
                        .affected();
                });
                if (gone < std::int64_t(batch)) break;
            }
        } catch (const Error& e) {
            log_event(LogLevel::warn, "pg_store.expire_deferred",
                      {{"what", "inbox"}, {"shard", config_.shards[shard].name}, {"error", e.message}});
        }
    }
    return done;
}

void PgStore::expire_history_on(std::size_t shard, std::int64_t cutoff, std::size_t batch, std::size_t& done) {
    if (done >= batch) return;
    go_round(
        sweep_mu_, history_cursor_, pools_.size(), shard,
        [&](const SweepCursor* after, const SweepCursor* upto) {
            // Oldest first, by (ts, message_id). A message whose fan-out is
            // still in the outbox is skipped: its inbox rows are not written yet.
            std::string sql = "SELECT ts, message_id FROM messages m WHERE ts<$1";
            std::vector<Param> params{Param::i64(cutoff)};
            auto bound = [&](const SweepCursor& k, const char* outer, const char* inner, const char* id_cmp) {
                params.push_back(Param::i64(k.key));
                auto ts = "$" + std::to_string(params.size());
                params.push_back(Param::i64(k.id));
                auto id = "$" + std::to_string(params.size());
                sql += std::string(" AND ts") + outer + ts + " AND (ts" + inner + ts + " OR message_id" + id_cmp + id + ")";
            };
            if (after) bound(*after, ">=", ">", ">");
            if (upto) bound(*upto, "<=", "<", "<=");
            params.push_back(Param::i64(std::int64_t(batch)));
            sql += " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.message_id=m.message_id) "
                   "ORDER BY ts, message_id LIMIT $" + std::to_string(params.size());
            auto r = on(shard, [&](Connection& c) { return c.exec(sql, params); });
            std::vector<SweepCursor> page;
            for (int i = 0; i < r.size(); ++i) page.push_back(SweepCursor{true, r.i64(i, 0), r.i64(i, 1)});
            return page;
        },
        [&](const std::vector<SweepCursor>& page) -> std::size_t {
            if (done >= batch) return 0;  // the last page filled the batch
            std::vector<std::uint64_t> ids;
            for (const auto& k : page) ids.push_back(from_db(k.id));
            // An inbox row waiting for it on any shard (its recipient's)
            // keeps it: one query per shard for the page.
            std::set<std::uint64_t> held;
            for (std::size_t s = 0; s < pools_.size(); ++s) {
                auto r = on(s, [&](Connection& c) {
                    return c.exec("SELECT DISTINCT message_id FROM inbox WHERE message_id = ANY($1::bigint[])", {id_array(ids)});
                });
                for (int i = 0; i < r.size(); ++i) held.insert(r.id(i, 0));
            }
            std::vector<std::uint64_t> gone;
            std::size_t looked = 0;
            for (; looked < ids.size() && done + gone.size() < batch; ++looked)
                if (!held.count(ids[looked])) gone.push_back(ids[looked]);
            if (gone.empty()) return looked;
            // No inbox row can appear for these now: rows are written only
            // from the outbox, which holds none of them.
            done += on(shard, [&](Connection& c) {
                return static_cast<std::size_t>(
                    c.exec("DELETE FROM messages m WHERE message_id = ANY($1::bigint[]) AND ts<$2 "
                           "AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.message_id=m.message_id)",
                           {id_array(gone), Param::i64(cutoff)})
                        .affected());
            });
            return looked;
        });
}

std::size_t PgStore::expire_history(std::int64_t cutoff, std::size_t batch) {
    std::size_t done = 0;
    for (std::size_t shard = 0; shard < pools_.size() && done < batch; ++shard) {
        try {
            expire_history_on(shard, cutoff, batch, done);
        } catch (const Error& e) {
            log_event(LogLevel::warn, "pg_store.expire_deferred",
                      {{"what", "history"}, {"shard", config_.shards[shard].name}, {"error", e.message}});
        }
    }
    return done;
}

std::size_t PgStore::expire_dedupe(std::int64_t cutoff, std::size_t batch) {
    std::size_t done = 0;
    for (std::size_t shard = 0; shard < pools_.size() && done < batch; ++shard) {
        try {
            done += on(shard, [&](Connection& c) {
                return static_cast<std::size_t>(
                    c.exec("DELETE FROM dedupe WHERE (sender, client_msg_id) IN (SELECT sender, client_msg_id FROM dedupe "
                           "WHERE created_at<$1 ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
                           {Param::i64(cutoff), Param::i64(std::int64_t(batch - done))})
                        .affected());
            });
        } catch (const Error& e) {
            log_event(LogLevel::warn, "pg_store.expire_deferred",
                      {{"what", "dedupe"}, {"shard", config_.shards[shard].name}, {"error", e.message}});
        }
    }
    return done;
}

std::size_t PgStore::expire_credentials(std::int64_t now, std::size_t batch) {
    std::size_t done = 0;
    for (std::size_t shard = 0; shard < pools_.size() && done < batch; ++shard) {
        try {
            done += on(shard, [&](Connection& c) {
                return static_cast<std::size_t>(
                    c.exec("DELETE FROM refresh_tokens WHERE token_hash IN (SELECT token_hash FROM refresh_tokens "
                           "WHERE expires_at<=$1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
                           {Param::i64(now), Param::i64(std::int64_t(batch - done))})
                        .affected());
            });
            if (done >= batch) break;
            done += on(shard, [&](Connection& c) {
                return static_cast<std::size_t>(
                    c.exec("DELETE FROM ws_tickets WHERE ticket_hash IN (SELECT ticket_hash FROM ws_tickets "
                           "WHERE expires_at<=$1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
                           {Param::i64(now), Param::i64(std::int64_t(batch - done))})
                        .affected());
            });
        } catch (const Error& e) {
            log_event(LogLevel::warn, "pg_store.expire_deferred",
                      {{"what", "credentials"}, {"shard", config_.shards[shard].name}, {"error", e.message}});
        }
    }
    return done;
}

}  // namespace natter::pg
