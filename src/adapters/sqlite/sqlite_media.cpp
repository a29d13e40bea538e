// The SQLite store's media records: keys of blobs, never their bytes.
#include "adapters/sqlite/sqlite_rows.hpp"
#include "adapters/sqlite/sqlite_store.hpp"
#include "adapters/sqlite/sqlite_store_templates.hpp"

namespace natter::sqlite {

namespace {
constexpr const char* kMediaSelect =
    "SELECT media_id, owner, mime, size, blob_key, created_at, verified, referenced_at FROM media ";

MediaRecord media_from(const Stmt& st) {
    return MediaRecord{st.u64(0), st.u64(1), st.text(2), st.u64(3), st.text(4), st.i64(5), st.i64(6) != 0, st.i64(7)};
}
}  // namespace

Result<Ok> SqliteStore::add_media(const MediaRecord& m, std::uint64_t quota_bytes) {
    return write_sync<Result<Ok>>([&](Db& db) -> Result<Ok> {
        auto used = db.prepare("SELECT coalesce(sum(size), 0) FROM media WHERE owner=?");
        used.bind(1, m.owner);
        used.step();
        auto total = std::uint64_t(used.i64(0));
        if (total + m.size > quota_bytes)
            return err(Code::too_large, "storage quota reached: " + std::to_string(total) + " of " +
                                            std::to_string(quota_bytes) + " bytes used; media you sent expires with its messages");
        db.prepare("INSERT INTO media(media_id, owner, mime, size, blob_key, created_at) VALUES(?,?,?,?,?,?)")
            .bind(1, m.media_id).bind(2, m.owner).bind(3, m.mime).bind(4, std::int64_t(m.size)).bind(5, m.key)
            .bind(6, m.created_at).run();
        return Ok{};
    }, err(Code::unavailable, "store write failed"));
}

std::optional<MediaRecord> SqliteStore::media(std::uint64_t media_id) {
    static const std::string sql = std::string(kMediaSelect) + "WHERE media_id=?";
    return read([&](Db& db) -> std::optional<MediaRecord> {
        auto st = db.prepare(sql.c_str());
        st.bind(1, media_id);
        if (!st.step()) return std::nullopt;
        return media_from(st);
    });
}

void SqliteStore::mark_verified(std::uint64_t media_id) {
    write_sync<bool>([&](Db& db) {
        db.prepare("UPDATE media SET verified=1 WHERE media_id=?").bind(1, media_id).run();
        return true;
    }, false);
}

Result<Ok> SqliteStore::set_avatar(UserId owner, std::optional<std::uint64_t> media_id, std::int64_t now) {
    return write_sync<Result<Ok>>([&](Db& db) -> Result<Ok> {
        if (media_id) {
            db.prepare("UPDATE media SET referenced_at=CASE referenced_at WHEN 0 THEN ? ELSE referenced_at END"
                       " WHERE media_id=? AND owner=? AND verified=1")
                .bind(1, now).bind(2, *media_id).bind(3, owner).run();
            if (db.changes() == 0) return err(Code::not_found, "no such media of yours (it may have expired)");
        }
        auto st = db.prepare("UPDATE users SET avatar_media_id=? WHERE user_id=?");
        if (media_id) st.bind(1, *media_id); else st.bind_null(1);
        st.bind(2, owner).run();
        return Ok{};
    }, err(Code::unavailable, "store write failed"));
}

bool SqliteStore::may_download(std::uint64_t media_id, UserId user) {
    return read([&](Db& db) {
        auto st = db.prepare(
            "SELECT 1 FROM media WHERE media_id=?1 AND owner=?2"
            " UNION ALL SELECT 1 FROM users WHERE avatar_media_id=?1"
            " UNION ALL SELECT 1 FROM messages m JOIN members mb ON mb.conversation_id=m.conversation_id"
            "  WHERE m.media_id=?1 AND mb.user_id=?2 AND m.seq>=mb.joined_seq LIMIT 1");
        st.bind(1, media_id).bind(2, user);
        return st.step();
    });
}

std::vector<MediaRecord> SqliteStore::expire_media(std::int64_t unused_before, std::size_t batch) {
    static const std::string sql = std::string(kMediaSelect) +
                                   "WHERE (referenced_at=0 AND created_at<?1)"
                                   " OR (referenced_at>0"
                                   "  AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.media_id=media.media_id)"
                                   "  AND NOT EXISTS (SELECT 1 FROM users u WHERE u.avatar_media_id=media.media_id))"
                                   " LIMIT ?2";
    return write_sync<std::vector<MediaRecord>>([&](Db& db) {
        std::vector<MediaRecord> out;
        {
            auto st = db.prepare(sql.c_str());
            st.bind(1, unused_before).bind(2, std::int64_t(batch));
            while (st.step()) out.push_back(media_from(st));
        }
        for (const auto& m : out) {
            db.prepare("DELETE FROM media WHERE media_id=?").bind(1, m.media_id).run();
            db.prepare("INSERT OR IGNORE INTO blob_trash(blob_key, queued_at) VALUES(?,?)")
                .bind(1, m.key).bind(2, unused_before).run();
        }
        return out;
    }, {});
}

std::vector<std::string> SqliteStore::blob_trash(std::size_t batch) {
    return read([&](Db& db) {
        std::vector<std::string> out;
        auto st = db.prepare("SELECT blob_key FROM blob_trash ORDER BY queued_at, blob_key LIMIT ?");
        st.bind(1, std::int64_t(batch));
        while (st.step()) out.push_back(st.text(0));
        return out;
    });
}

void SqliteStore::forget_trash(const std::vector<std::string>& keys) {
    write_sync<bool>([&](Db& db) {
        for (const auto& k : keys) db.prepare("DELETE FROM blob_trash WHERE blob_key=?").bind(1, k).run();
        return true;
    }, false);
}

}  // namespace natter::sqlite
