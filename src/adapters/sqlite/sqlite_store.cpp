#include "adapters/sqlite/sqlite_store.hpp"

#include <future>

#include "obs/log.hpp"

#include "adapters/sqlite/sqlite_db.hpp"
#include "adapters/sqlite/sqlite_rows.hpp"
#include "adapters/sqlite/sqlite_store_templates.hpp"
#include "adapters/sqlite/sqlite_writes.hpp"

namespace natter::sqlite {

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users(
  user_id INTEGER PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  display_name TEXT NOT NULL DEFAULT '',
  description TEXT NOT NULL DEFAULT '',
  avatar_media_id INTEGER,
  created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS devices(
  user_id INTEGER NOT NULL,
  device_id INTEGER NOT NULL,
  device_name TEXT NOT NULL,
  generation INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  inbox_truncated INTEGER NOT NULL DEFAULT 0,
  receipts_seen_at INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(user_id, device_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS refresh_tokens(
  token_hash TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL,
  device_id INTEGER NOT NULL,
  spent INTEGER NOT NULL DEFAULT 0,
  expires_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS refresh_tokens_device ON refresh_tokens(user_id, device_id);
CREATE TABLE IF NOT EXISTS ws_tickets(
  ticket_hash TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL,
  device_id INTEGER NOT NULL,
  expires_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS conversations(
  conversation_id TEXT PRIMARY KEY,
  last_seq INTEGER NOT NULL,
  last_message_id INTEGER NOT NULL,
  created_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS members(
  conversation_id TEXT NOT NULL,
  user_id INTEGER NOT NULL,
  role TEXT NOT NULL DEFAULT 'member',
  joined_seq INTEGER NOT NULL DEFAULT 0,
  delivered_seq INTEGER NOT NULL DEFAULT 0,
  read_seq INTEGER NOT NULL DEFAULT 0,
  receipt_at INTEGER NOT NULL DEFAULT 0,
  first_sent_seq INTEGER NOT NULL DEFAULT 0,
  last_sent_seq INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(conversation_id, user_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS groups(
  group_id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  created_by INTEGER NOT NULL,
  created_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS members_user ON members(user_id);
CREATE TABLE IF NOT EXISTS messages(
  message_id INTEGER PRIMARY KEY,
  conversation_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  prev_message_id INTEGER NOT NULL,
  kind TEXT NOT NULL,
  from_user INTEGER NOT NULL,
  from_device INTEGER NOT NULL,
  client_msg_id TEXT NOT NULL,
  to_json TEXT NOT NULL,
  body TEXT,
  attachment TEXT,
  event TEXT,
  ts INTEGER NOT NULL,
  media_id INTEGER,
  UNIQUE(conversation_id, seq));
CREATE INDEX IF NOT EXISTS messages_ts ON messages(ts);
CREATE INDEX IF NOT EXISTS messages_media ON messages(media_id) WHERE media_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS media(
  media_id INTEGER PRIMARY KEY,
  owner INTEGER NOT NULL,
  mime TEXT NOT NULL,
  size INTEGER NOT NULL,
  blob_key TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  verified INTEGER NOT NULL DEFAULT 0,
  referenced_at INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS media_owner ON media(owner);
CREATE INDEX IF NOT EXISTS media_unused ON media(referenced_at, created_at);
CREATE TABLE IF NOT EXISTS blob_trash(
  blob_key TEXT PRIMARY KEY,
  queued_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dedupe(
  sender INTEGER NOT NULL,
  client_msg_id TEXT NOT NULL,
  payload_hash TEXT NOT NULL,
  message_id INTEGER NOT NULL,
  conversation_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  prev_message_id INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY(sender, client_msg_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dedupe_age ON dedupe(created_at);
CREATE TABLE IF NOT EXISTS inbox(
  inbox_id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL,
  device_id INTEGER NOT NULL,
  message_id INTEGER NOT NULL,
  created_at INTEGER NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS inbox_device ON inbox(user_id, device_id, message_id);
CREATE INDEX IF NOT EXISTS inbox_order ON inbox(user_id, device_id, inbox_id);
CREATE INDEX IF NOT EXISTS inbox_message ON inbox(message_id);
CREATE INDEX IF NOT EXISTS inbox_age ON inbox(created_at);
CREATE INDEX IF NOT EXISTS refresh_tokens_expiry ON refresh_tokens(expires_at);
CREATE TABLE IF NOT EXISTS deleted_users(
  user_id INTEGER PRIMARY KEY,
  deleted_at INTEGER NOT NULL);
)sql";

std::optional<DeviceRecord> load_device(Db& db, UserId user, DeviceId device) {
    static const std::string sql = std::string(kDeviceSelect) + "WHERE user_id=? AND device_id=?";
    auto st = db.prepare(sql.c_str());
    st.bind(1, user).bind(2, device);
    if (!st.step()) return std::nullopt;
    return device_from(st);
}

bool revoke_in(Db& db, UserId user, DeviceId device) {
    db.prepare("UPDATE devices SET generation=generation+1 WHERE user_id=? AND device_id=?").bind(1, user).bind(2, device).run();
    bool found = db.changes() > 0;
    db.prepare("DELETE FROM refresh_tokens WHERE user_id=? AND device_id=?").bind(1, user).bind(2, device).run();
    db.prepare("DELETE FROM ws_tickets WHERE user_id=? AND device_id=?").bind(1, user).bind(2, device).run();
    return found;
}

Result<SendOutcome> send_in(Db& db, const SendRequest& req) {
    SendOutcome out;
    {
        auto d = db.prepare(
            "SELECT payload_hash, message_id, conversation_id, seq, prev_message_id, created_at "
            "FROM dedupe WHERE sender=? AND client_msg_id=?");
        d.bind(1, req.sender).bind(2, req.client_msg_id);
        if (d.step()) {
            if (d.text(0) != req.payload_hash)
                return err(Code::conflict, "client_msg_id was already used for a different message");
            // The first send's answer, kept with the key: its message may be gone from history.
            auto& m = out.message;
            m.message_id = d.u64(1);
            m.client_msg_id = req.client_msg_id;
            m.conversation_id = d.text(2);
            m.seq = d.i64(3);
            m.prev_message_id = d.u64(4);
            m.ts = d.i64(5);
            m.from_user = req.sender;
            out.duplicate = true;
            return out;
        }
    }
    if (req.media_id) {
        // The sender's own checked media, still there (the sweeper may have
        // taken it since the check); used from now on.
        db.prepare("UPDATE media SET referenced_at=CASE referenced_at WHEN 0 THEN ? ELSE referenced_at END"
                   " WHERE media_id=? AND owner=? AND verified=1")
            .bind(1, req.ts).bind(2, req.media_id).bind(3, req.sender).run();
        if (db.changes() == 0) return err(Code::not_found, "no such media (it may have expired): upload it again");
    }
    if (req.group) {
        // Membership is read in the send's transaction: a member removed
        // before this seq does not get it, one added before does.
        if (!member_of(db, req.conversation_id, req.sender)) {
            auto g = db.prepare("SELECT 1 FROM conversations WHERE conversation_id=?");
            g.bind(1, req.conversation_id);
            if (!g.step()) return err(Code::not_found, "no such group");
            return err(Code::forbidden, "not a member of this group");
        }
    } else if (req.recipient) {
        auto u = db.prepare("SELECT 1 FROM users WHERE user_id=?");
        u.bind(1, req.recipient);
        if (!u.step()) return err(Code::not_found, "no such user");
    }
    auto last = last_of(db, req.conversation_id);
    if (!last) {
        if (req.group) return err(Code::not_found, "no such group");
        db.prepare("INSERT INTO conversations(conversation_id, last_seq, last_message_id, created_at) VALUES(?,0,0,?)")
            .bind(1, req.conversation_id).bind(2, req.ts).run();
        for (UserId p : req.participants)
            db.prepare("INSERT OR IGNORE INTO members(conversation_id, user_id) VALUES(?,?)")
                .bind(1, req.conversation_id).bind(2, p).run();
        last = Last{};
    }
    StoredMessage& m = out.message;
    m.message_id = req.new_message_id;
    m.client_msg_id = req.client_msg_id;
    m.conversation_id = req.conversation_id;
    m.kind = req.kind;
    m.from_user = req.sender;
    m.from_device = req.sender_device;
    m.to_json = req.to_json;
    m.body = req.body;
    m.attachment_json = req.attachment_json;
    m.ts = req.ts;
    append_message(db, m, *last, req.media_id);
    db.prepare("INSERT INTO dedupe(sender, client_msg_id, payload_hash, message_id, conversation_id, seq, "
               "prev_message_id, created_at) VALUES(?,?,?,?,?,?,?,?)")
        .bind(1, req.sender).bind(2, req.client_msg_id).bind(3, req.payload_hash).bind(4, m.message_id)
        .bind(5, m.conversation_id).bind(6, m.seq).bind(7, m.prev_message_id).bind(8, req.ts).run();
    // Receipts are news to a member when they cover one of its messages.
    db.prepare("UPDATE members SET last_sent_seq=?1, first_sent_seq=CASE first_sent_seq WHEN 0 THEN ?1 ELSE first_sent_seq END"
               " WHERE conversation_id=?2 AND user_id=?3")
        .bind(1, m.seq).bind(2, m.conversation_id).bind(3, req.sender).run();
    fan_out(db, m, req.sender_device, out.targets);
    return out;
}

constexpr int kSchemaVersion = 5;

// Creates the schema in a new file; refuses a file of another version.
void migrate(Db& db) {
    int version = 0;
    {
        auto st = db.prepare("PRAGMA user_version");
        if (st.step()) version = int(st.i64(0));
    }
    bool fresh = false;
    {
        auto st = db.prepare("SELECT count(*) FROM sqlite_master WHERE type='table'");
        st.step();
        fresh = st.i64(0) == 0;
    }
    if (!fresh && version >= 1 && version < kSchemaVersion) {
        // 1 -> 2: receipt change times for the catch-up on sync; groups.
        // 2 -> 3 -> 4: each member's first and last message, which receipts are news to.
        // 4 -> 5: media, and the message that uses one.
        db.exec("BEGIN IMMEDIATE");
        if (version < 2) {
            db.exec("ALTER TABLE members ADD COLUMN receipt_at INTEGER NOT NULL DEFAULT 0");
            db.exec("ALTER TABLE devices ADD COLUMN receipts_seen_at INTEGER NOT NULL DEFAULT 0");
        }
        if (version < 3) db.exec("ALTER TABLE members ADD COLUMN first_sent_seq INTEGER NOT NULL DEFAULT 0");
        if (version < 4) {
            db.exec("ALTER TABLE members ADD COLUMN last_sent_seq INTEGER NOT NULL DEFAULT 0");
            db.exec("UPDATE members SET"
                    " first_sent_seq=coalesce((SELECT min(seq) FROM messages m WHERE m.conversation_id=members.conversation_id"
                    "  AND m.from_user=members.user_id AND m.kind<>'system'), 0),"
                    " last_sent_seq=coalesce((SELECT max(seq) FROM messages m WHERE m.conversation_id=members.conversation_id"
                    "  AND m.from_user=members.user_id AND m.kind<>'system'), 0)");
        }
        db.exec("ALTER TABLE messages ADD COLUMN media_id INTEGER");
        db.exec(kSchema);
        db.exec(("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str());
        db.exec("COMMIT");
        version = kSchemaVersion;
    }
    if (!fresh && version != kSchemaVersion)
        throw SqliteError("the database has schema version " + std::to_string(version) + ", this natterd uses " +
                          std::to_string(kSchemaVersion) + ": use a data directory made by this version");
    db.exec(kSchema);
    db.exec(("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str());
}

}  // namespace

SqliteStore::SqliteStore(SqliteConfig config) : config_(std::move(config)) {
    writer_db_ = std::make_unique<Db>(config_.path, false);
    writer_db_->exec("PRAGMA journal_mode=WAL");
    writer_db_->exec(config_.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    migrate(*writer_db_);
    for (std::size_t i = 0; i < std::max<std::size_t>(1, config_.readers); ++i)
        readers_.push_back(std::make_unique<Db>(config_.path, true));
    writer_ = std::thread([this] { writer_loop(); });
}

SqliteStore::~SqliteStore() {
    {
        std::lock_guard lock(queue_mu_);
        stopping_ = true;
    }
    queue_cv_.notify_all();
    writer_.join();
}

void SqliteStore::enqueue(Job job) {
    {
        std::lock_guard lock(queue_mu_);
        queue_.push_back(std::move(job));
    }
    queue_cv_.notify_one();
}

void SqliteStore::writer_loop() {
    std::vector<Job> batch;
    for (;;) {
        {
            std::unique_lock lock(queue_mu_);
            queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping, and everything queued is written
            while (!queue_.empty() && batch.size() < config_.max_batch) {
                batch.push_back(std::move(queue_.front()));
                queue_.pop_front();
            }
        }
        run_batch(batch);
        batch.clear();
    }
}

void SqliteStore::run_batch(std::vector<Job>& batch) {
    Db& db = *writer_db_;
    bool committed = false;
    try {
        db.exec("BEGIN IMMEDIATE");
        for (auto& job : batch) {
            db.exec("SAVEPOINT job");
            bool keep = false;
            try {
                keep = job.run(db);
            } catch (const std::exception& e) {
                log_event(LogLevel::error, "store.write_failed", {{"error", e.what()}});
            }
            if (!keep) db.exec("ROLLBACK TO job");
            db.exec("RELEASE job");
        }
        db.exec("COMMIT");
        committed = true;
    } catch (const std::exception& e) {
        log_event(LogLevel::error, "store.batch_failed", {{"jobs", batch.size()}, {"error", e.what()}});
        try {
            db.exec("ROLLBACK");
        } catch (...) {
        }
    }
    for (auto& job : batch) {
        try {
            job.after(committed);
        } catch (const std::exception& e) {
            // A callback's bug must not take the writer thread, and the process, down.
            log_event(LogLevel::error, "store.callback_failed", {{"error", e.what()}});
        }
    }
}

bool SqliteStore::ping() {
    try {
        return read([](Db& db) {
            auto st = db.prepare("SELECT 1");
            return st.step();
        });
    } catch (const std::exception&) {
        return false;
    }
}

std::size_t SqliteStore::queue_depth() {
    std::lock_guard lock(queue_mu_);
    return queue_.size();
}

std::size_t SqliteStore::inbox_rows() {
    return read([](Db& db) {
        auto st = db.prepare("SELECT count(*) FROM inbox");
        st.step();
        return std::size_t(st.i64(0));
    });
}

std::string SqliteStore::meta(const std::string& key) {
    return read([&](Db& db) {
        auto st = db.prepare("SELECT value FROM meta WHERE key=?");
        st.bind(1, key);
        return st.step() ? st.text(0) : std::string();
    });
}

void SqliteStore::set_meta(const std::string& key, const std::string& value) {
    write_sync<bool>([&](Db& db) {
        db.prepare("INSERT INTO meta(key, value) VALUES(?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value")
            .bind(1, key).bind(2, value).run();
        return true;
    }, false);
}

// ---- users

Result<Ok> SqliteStore::create_user(const UserRecord& u) {
    return write_sync<Result<Ok>>([&](Db& db) -> Result<Ok> {
        auto exists = db.prepare("SELECT 1 FROM users WHERE username=?");
        exists.bind(1, u.username);
        if (exists.step()) return err(Code::conflict, "username is taken");
        db.prepare("INSERT INTO users(user_id, username, password_hash, display_name, description, created_at) "
                   "VALUES(?,?,?,?,?,?)")
            .bind(1, u.user_id).bind(2, u.username).bind(3, u.password_hash).bind(4, u.display_name)
            .bind(5, u.description).bind(6, u.created_at).run();
        return Ok{};
    }, err(Code::unavailable, "store write failed"));
}

std::optional<UserRecord> SqliteStore::user_by_id(UserId user) {
    static const std::string sql = std::string(kUserSelect) + "WHERE user_id=?";
    return read([&](Db& db) -> std::optional<UserRecord> {
        auto st = db.prepare(sql.c_str());
        st.bind(1, user);
        if (!st.step()) return std::nullopt;
        return user_from(st);
    });
}

std::optional<UserRecord> SqliteStore::user_by_name(const std::string& username) {
    static const std::string sql = std::string(kUserSelect) + "WHERE username=?";
    return read([&](Db& db) -> std::optional<UserRecord> {
        auto st = db.prepare(sql.c_str());
        st.bind(1, username);
        if (!st.step()) return std::nullopt;
        return user_from(st);
    });
}

Result<UserRecord> SqliteStore::update_profile(UserId user, const ProfilePatch& patch) {
    static const std::string sql = std::string(kUserSelect) + "WHERE user_id=?";
    return write_sync<Result<UserRecord>>([&](Db& db) -> Result<UserRecord> {
        if (patch.display_name)
            db.prepare("UPDATE users SET display_name=? WHERE user_id=?").bind(1, *patch.display_name).bind(2, user).run();
        if (patch.description)
            db.prepare("UPDATE users SET description=? WHERE user_id=?").bind(1, *patch.description).bind(2, user).run();
        if (patch.avatar_media_id) {
            auto st = db.prepare("UPDATE users SET avatar_media_id=? WHERE user_id=?");
            if (*patch.avatar_media_id) st.bind(1, **patch.avatar_media_id); else st.bind_null(1);
            st.bind(2, user).run();
        }
        auto st = db.prepare(sql.c_str());
        st.bind(1, user);
        if (!st.step()) return err(Code::not_found, "no such user");
        return user_from(st);
    }, err(Code::unavailable, "store write failed"));
}

Result<Ok> SqliteStore::delete_user(UserId user, std::int64_t now) {
    // One transaction: nothing of a deletion is ever half done here.
    return write_sync<Result<Ok>>([&](Db& db) -> Result<Ok> {
        if (!db.prepare("SELECT 1 FROM users WHERE user_id=?").bind(1, user).step()) {
            if (db.prepare("SELECT 1 FROM deleted_users WHERE user_id=?").bind(1, user).step()) return Ok{};
            return err(Code::not_found, "no such user");
        }
        db.prepare("INSERT OR IGNORE INTO deleted_users(user_id, deleted_at) VALUES(?,?)").bind(1, user).bind(2, now).run();
        for (const char* sql : {"DELETE FROM refresh_tokens WHERE user_id=?", "DELETE FROM ws_tickets WHERE user_id=?",
                                "DELETE FROM inbox WHERE user_id=?", "DELETE FROM devices WHERE user_id=?"})
            db.prepare(sql).bind(1, user).run();
        // The blobs go by the trash, as the sweeper's do.
        db.prepare("INSERT OR IGNORE INTO blob_trash(blob_key, queued_at) SELECT blob_key, ? FROM media WHERE owner=?")
            .bind(1, now).bind(2, user).run();
        db.prepare("DELETE FROM media WHERE owner=?").bind(1, user).run();
        db.prepare("DELETE FROM members WHERE user_id=? AND conversation_id LIKE 'd:%'").bind(1, user).run();
        db.prepare("DELETE FROM users WHERE user_id=?").bind(1, user).run();
        return Ok{};
    }, err(Code::unavailable, "store write failed"));
}

bool SqliteStore::user_deleted(UserId user) {
    return read([&](Db& db) { return db.prepare("SELECT 1 FROM deleted_users WHERE user_id=?").bind(1, user).step(); });
}

std::vector<UserId> SqliteStore::unfinished_deletions(std::size_t) { return {}; }

// ---- devices and tokens

Result<DeviceRecord> SqliteStore::open_device(UserId user, std::optional<DeviceId> existing, DeviceId new_id,
                                              const std::string& name, std::int64_t now, std::size_t max_devices) {
    return write_sync<Result<DeviceRecord>>([&](Db& db) -> Result<DeviceRecord> {
        if (auto d = existing ? load_device(db, user, *existing) : std::nullopt) {
            db.prepare("UPDATE devices SET last_seen=? WHERE user_id=? AND device_id=?")
                .bind(1, now).bind(2, user).bind(3, *existing).run();
            d->last_seen = now;
            return *d;
        }
        if (db.prepare("SELECT 1 FROM deleted_users WHERE user_id=?").bind(1, user).step())
            return err(Code::not_found, "no such user");
        auto count = db.prepare("SELECT count(*) FROM devices WHERE user_id=?");
        count.bind(1, user);
        count.step();
        if (std::size_t(count.i64(0)) >= max_devices)
            return err(Code::conflict, "device limit reached (" + std::to_string(max_devices) +
                                           "): remove a device first");
        db.prepare("INSERT INTO devices(user_id, device_id, device_name, generation, created_at, last_seen) "
                   "VALUES(?,?,?,0,?,?)")
            .bind(1, user).bind(2, new_id).bind(3, name).bind(4, now).bind(5, now).run();
        return DeviceRecord{user, new_id, name, 0, now, now};
    }, err(Code::unavailable, "store write failed"));
}

std::vector<DeviceRecord> SqliteStore::devices(UserId user) {
    static const std::string sql = std::string(kDeviceSelect) + "WHERE user_id=? ORDER BY device_id";
    return read([&](Db& db) {
        std::vector<DeviceRecord> out;
        auto st = db.prepare(sql.c_str());
        st.bind(1, user);
        while (st.step()) out.push_back(device_from(st));
        return out;
    });
}

std::optional<DeviceRecord> SqliteStore::device(UserId user, DeviceId device) {
    return read([&](Db& db) { return load_device(db, user, device); });
}

void SqliteStore::touch_device(UserId user, DeviceId device, std::int64_t now) {
    enqueue(Job{[=](Db& db) {
                    db.prepare("UPDATE devices SET last_seen=? WHERE user_id=? AND device_id=?")
                        .bind(1, now).bind(2, user).bind(3, device).run();
                    return true;
                },
                [](bool) {}});
}

bool SqliteStore::remove_device(UserId user, DeviceId device) {
    return write_sync<bool>([&](Db& db) {
        revoke_in(db, user, device);
        db.prepare("DELETE FROM inbox WHERE user_id=? AND device_id=?").bind(1, user).bind(2, device).run();
        db.prepare("DELETE FROM devices WHERE user_id=? AND device_id=?").bind(1, user).bind(2, device).run();
        return db.changes() > 0;
    }, false);
}

bool SqliteStore::revoke_device(UserId user, DeviceId device) {
    return write_sync<bool>([&](Db& db) { return revoke_in(db, user, device); }, false);
}

void SqliteStore::add_refresh_token(UserId user, DeviceId device, const std::string& token_hash,
                                    std::int64_t expires_at) {
    write_sync<bool>([&](Db& db) {
        db.prepare("INSERT INTO refresh_tokens(token_hash, user_id, device_id, spent, expires_at) VALUES(?,?,?,0,?)")
            .bind(1, token_hash).bind(2, user).bind(3, device).bind(4, expires_at).run();
        return true;
    }, false);
}

RefreshOutcome SqliteStore::rotate_refresh_token(UserId user, const std::string& token_hash,
                                                 const std::string& next_hash, std::int64_t next_expires_at,
                                                 std::int64_t now) {
    return write_sync<RefreshOutcome>([&](Db& db) {
        RefreshOutcome out;
        DeviceId device = 0;
        bool spent = false;
        {
            auto st = db.prepare("SELECT device_id, spent, expires_at FROM refresh_tokens WHERE token_hash=? AND user_id=?");
            st.bind(1, token_hash).bind(2, user);
            if (!st.step() || st.i64(2) <= now) return out;
            device = st.u64(0);
            spent = st.i64(1) != 0;
        }
        if (spent) {
            revoke_in(db, user, device);
            if (auto d = load_device(db, user, device)) out.device = *d;
            out.kind = RefreshOutcome::Kind::replayed;
            return out;
        }
        auto d = load_device(db, user, device);
        if (!d) return out;
        db.prepare("UPDATE refresh_tokens SET spent=1 WHERE token_hash=?").bind(1, token_hash).run();
        db.prepare("INSERT INTO refresh_tokens(token_hash, user_id, device_id, spent, expires_at) VALUES(?,?,?,0,?)")
            .bind(1, next_hash).bind(2, user).bind(3, device).bind(4, next_expires_at).run();
        db.prepare("UPDATE devices SET last_seen=? WHERE user_id=? AND device_id=?").bind(1, now).bind(2, user).bind(3, device).run();
        out.kind = RefreshOutcome::Kind::rotated;
        out.device = *d;
        return out;
    }, RefreshOutcome{});
}

void SqliteStore::add_ticket(UserId user, DeviceId device, const std::string& ticket_hash, std::int64_t expires_at) {
    write_sync<bool>([&](Db& db) {
        db.prepare("DELETE FROM ws_tickets WHERE expires_at<?").bind(1, expires_at - 3600 * 1000).run();
        db.prepare("INSERT INTO ws_tickets(ticket_hash, user_id, device_id, expires_at) VALUES(?,?,?,?)")
            .bind(1, ticket_hash).bind(2, user).bind(3, device).bind(4, expires_at).run();
        return true;
    }, false);
}

std::optional<DeviceId> SqliteStore::take_ticket(UserId user, const std::string& ticket_hash, std::int64_t now) {
    return write_sync<std::optional<DeviceId>>([&](Db& db) -> std::optional<DeviceId> {
        std::optional<DeviceId> device;
        {
            auto st = db.prepare("SELECT device_id, expires_at FROM ws_tickets WHERE ticket_hash=? AND user_id=?");
            st.bind(1, ticket_hash).bind(2, user);
            if (st.step() && st.i64(1) > now) device = st.u64(0);
        }
        db.prepare("DELETE FROM ws_tickets WHERE ticket_hash=?").bind(1, ticket_hash).run();
        return device;
    }, std::nullopt);
}

// ---- messages and inboxes

void SqliteStore::commit_send(SendRequest req, std::function<void(Result<SendOutcome>)> done) {
    {
        std::lock_guard lock(queue_mu_);
        if (queue_.size() >= config_.max_queue) return done(err(Code::unavailable, "the store is overloaded; retry"));
    }
    auto result = std::make_shared<Result<SendOutcome>>(err(Code::unavailable, "the store could not write the message"));
    auto request = std::make_shared<SendRequest>(std::move(req));
    enqueue(Job{[result, request](Db& db) {
                    *result = send_in(db, *request);
                    return result->ok();
                },
                [result, done = std::move(done)](bool committed) {
                    if (!committed) *result = err(Code::unavailable, "the store could not commit the message");
                    done(std::move(*result));
                }});
}

std::vector<InboxItem> SqliteStore::read_inbox(UserId user, DeviceId device, InboxId after, std::size_t limit) {
    static const std::string sql = std::string("SELECT i.inbox_id, ") + kMessageColumns +
                                   " FROM inbox i JOIN messages m ON m.message_id=i.message_id"
                                   " WHERE i.user_id=? AND i.device_id=? AND i.inbox_id>? ORDER BY i.inbox_id LIMIT ?";
    return read([&](Db& db) {
        std::vector<InboxItem> out;
        auto st = db.prepare(sql.c_str());
        st.bind(1, user).bind(2, device).bind(3, after).bind(4, std::int64_t(limit));
        while (st.step()) out.push_back(InboxItem{st.i64(0), message_from(st, 1)});
        return out;
    });
}

void SqliteStore::ack(UserId user, DeviceId device, std::vector<MessageId> ids, std::int64_t now,
                      std::function<void(AckOutcome)> done) {
    auto out = std::make_shared<AckOutcome>();
    auto list = std::make_shared<std::vector<MessageId>>(std::move(ids));
    enqueue(Job{[=](Db& db) {
                    *out = ack_in(db, user, device, *list, now);
                    return true;
                },
                [out, done = std::move(done)](bool committed) { done(committed ? std::move(*out) : AckOutcome{}); }});
}

bool SqliteStore::truncated(UserId user, DeviceId device) {
    return read([&](Db& db) {
        auto st = db.prepare("SELECT inbox_truncated FROM devices WHERE user_id=? AND device_id=?");
        st.bind(1, user).bind(2, device);
        return st.step() && st.i64(0) != 0;
    });
}

void SqliteStore::clear_truncated(UserId user, DeviceId device) {
    enqueue(Job{[=](Db& db) {
                    db.prepare("UPDATE devices SET inbox_truncated=0 WHERE user_id=? AND device_id=?")
                        .bind(1, user).bind(2, device).run();
                    return true;
                },
                [](bool) {}});
}

std::size_t SqliteStore::inbox_depth(UserId user, DeviceId device) {
    return read([&](Db& db) {
        auto st = db.prepare("SELECT count(*) FROM inbox WHERE user_id=? AND device_id=?");
        st.bind(1, user).bind(2, device);
        st.step();
        return std::size_t(st.i64(0));
    });
}

}  // namespace natter::sqlite
