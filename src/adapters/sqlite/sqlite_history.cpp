// The SQLite store's conversation lists, history pages and retention sweeps.
#include "adapters/sqlite/sqlite_rows.hpp"
#include "adapters/sqlite/sqlite_store.hpp"
#include "adapters/sqlite/sqlite_store_templates.hpp"

namespace natter::sqlite {

std::vector<ConversationSummary> SqliteStore::conversations(UserId user, std::size_t limit) {
    static const std::string sql = std::string(
        "SELECT c.conversation_id, c.last_seq, max(mb.read_seq, mb.joined_seq - 1), m.message_id IS NOT NULL, ") + kMessageColumns +
        " FROM members mb JOIN conversations c ON c.conversation_id=mb.conversation_id"
        " LEFT JOIN messages m ON m.message_id=c.last_message_id"
        " WHERE mb.user_id=? ORDER BY c.last_message_id DESC LIMIT ?";
    return read([&](Db& db) {
        std::vector<ConversationSummary> out;
        std::vector<std::int64_t> read_seqs;
        {
            auto st = db.prepare(sql.c_str());
            st.bind(1, user).bind(2, std::int64_t(limit));
            while (st.step()) {
                ConversationSummary c;
                c.conversation_id = st.text(0);
                c.last_seq = st.i64(1);
                read_seqs.push_back(st.i64(2));
                if (st.i64(3)) c.last_message = message_from(st, 4);
                out.push_back(std::move(c));
            }
        }
        for (std::size_t i = 0; i < out.size(); ++i) {
            auto st = db.prepare("SELECT count(*) FROM messages WHERE conversation_id=? AND seq>? AND from_user<>? AND kind<>'system'");
            st.bind(1, out[i].conversation_id).bind(2, read_seqs[i]).bind(3, user);
            st.step();
            out[i].unread = st.i64(0);
        }
        return out;
    });
}

std::vector<StoredMessage> SqliteStore::history(const std::string& conversation_id, std::int64_t from_seq,
                                                std::int64_t before_seq, std::size_t limit) {
    static const std::string sql = std::string("SELECT ") + kMessageColumns +
                                   " FROM messages m WHERE m.conversation_id=? AND m.seq>=? AND m.seq<?"
                                   " ORDER BY m.seq DESC LIMIT ?";
    return read([&](Db& db) {
        std::vector<StoredMessage> out;
        auto st = db.prepare(sql.c_str());
        st.bind(1, conversation_id).bind(2, from_seq);
        st.bind(3, before_seq > 0 ? before_seq : INT64_MAX).bind(4, std::int64_t(limit));
        while (st.step()) out.push_back(message_from(st, 0));
        return out;
    });
}

std::size_t SqliteStore::expire_inbox(std::int64_t cutoff, std::size_t batch) {
    return write_sync<std::size_t>([&](Db& db) {
        std::vector<std::pair<std::int64_t, std::pair<UserId, DeviceId>>> rows;
        {
            auto st = db.prepare("SELECT inbox_id, user_id, device_id FROM inbox WHERE created_at<? LIMIT ?");
            st.bind(1, cutoff).bind(2, std::int64_t(batch));
            while (st.step()) rows.push_back({st.i64(0), {st.u64(1), st.u64(2)}});
        }
        for (const auto& [inbox_id, who] : rows) {
            db.prepare("DELETE FROM inbox WHERE inbox_id=?").bind(1, inbox_id).run();
            db.prepare("UPDATE devices SET inbox_truncated=1 WHERE user_id=? AND device_id=?")
                .bind(1, who.first).bind(2, who.second).run();
        }
        return rows.size();
    }, 0);
}

std::size_t SqliteStore::expire_history(std::int64_t cutoff, std::size_t batch) {
    return write_sync<std::size_t>([&](Db& db) {
        // Never a message some device still waits for: its inbox row needs it.
        db.prepare("DELETE FROM messages WHERE message_id IN ("
                   " SELECT m.message_id FROM messages m WHERE m.ts<?"
                   " AND NOT EXISTS (SELECT 1 FROM inbox i WHERE i.message_id=m.message_id) LIMIT ?)")
            .bind(1, cutoff).bind(2, std::int64_t(batch)).run();
        return std::size_t(db.changes());
    }, 0);
}

std::size_t SqliteStore::expire_dedupe(std::int64_t cutoff, std::size_t batch) {
    return write_sync<std::size_t>([&](Db& db) {
        db.prepare("DELETE FROM dedupe WHERE (sender, client_msg_id) IN "
                   "(SELECT sender, client_msg_id FROM dedupe WHERE created_at<? LIMIT ?)")
            .bind(1, cutoff).bind(2, std::int64_t(batch)).run();
        return std::size_t(db.changes());
    }, 0);
}

std::size_t SqliteStore::expire_credentials(std::int64_t now, std::size_t batch) {
    return write_sync<std::size_t>([&](Db& db) {
        std::size_t n = 0;
        db.prepare("DELETE FROM refresh_tokens WHERE token_hash IN "
                   "(SELECT token_hash FROM refresh_tokens WHERE expires_at<=? LIMIT ?)")
            .bind(1, now).bind(2, std::int64_t(batch)).run();
        n += std::size_t(db.changes());
        if (n >= batch) return n;
        db.prepare("DELETE FROM ws_tickets WHERE ticket_hash IN (SELECT ticket_hash FROM ws_tickets WHERE expires_at<=? LIMIT ?)")
            .bind(1, now).bind(2, std::int64_t(batch - n)).run();
        n += std::size_t(db.changes());
        return n;
    }, 0);
}

}  // namespace natter::sqlite
