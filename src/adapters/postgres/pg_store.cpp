#include "adapters/postgres/pg_store.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>
#include <utility>

#include "obs/log.hpp"

#include "adapters/postgres/pg_conn.hpp"
#include "adapters/postgres/pg_pool.hpp"
#include "adapters/postgres/pg_schema.hpp"
#include "adapters/postgres/pg_store_internal.hpp"

namespace natter::pg {


PgStore::PgStore(PgStoreConfig config) : config_(std::move(config)), ring_(shard_names(config_.shards), config_.vnodes) {
    for (const auto& s : config_.shards) {
        PoolOptions o;
        o.conninfo = s.conninfo;
        o.name = "shard " + s.name;
        o.size = config_.pool_size;
        pools_.push_back(std::make_unique<Pool>(std::move(o)));
    }
    for (auto& pool : pools_) {
        auto lease = pool->lease();
        migrate(*lease);
    }
    for (std::size_t i = 0; i < std::max<std::size_t>(1, config_.workers); ++i) workers_.push_back(std::make_unique<Worker>());
    for (std::size_t i = 0; i < workers_.size(); ++i) workers_[i]->thread = std::thread([this, i] { worker_loop(i); });
    scanner_ = std::thread([this] {
        std::unique_lock lock(scan_mu_);
        while (!scan_stopping_) {
            scan_cv_.wait_for(lock, config_.outbox_scan, [&] { return scan_stopping_; });
            if (scan_stopping_) break;
            lock.unlock();
            scan_outboxes();
            lock.lock();
        }
    });
}

PgStore::~PgStore() {
    {
        std::lock_guard lock(scan_mu_);
        scan_stopping_ = true;
    }
    scan_cv_.notify_all();
    scanner_.join();
    // Everything queued runs first: a send accepted by the store is answered.
    for (auto& w : workers_) {
        {
            std::lock_guard lock(w->mu);
            w->stopping = true;
        }
        w->cv.notify_all();
    }
    for (auto& w : workers_) w->thread.join();
}

void PgStore::post(const std::string& key, std::function<void()> job) {
    auto& w = *workers_[HashRing::hash(key) % workers_.size()];
    {
        std::lock_guard lock(w.mu);
        w.jobs.push_back(std::move(job));
    }
    w.cv.notify_one();
}

void PgStore::worker_loop(std::size_t index) {
    auto& w = *workers_[index];
    for (;;) {
        std::function<void()> job;
        {
            std::unique_lock lock(w.mu);
            w.cv.wait(lock, [&] { return w.stopping || !w.jobs.empty(); });
            if (w.jobs.empty()) return;
            job = std::move(w.jobs.front());
            w.jobs.pop_front();
        }
        try {
            job();
        } catch (const std::exception& e) {
            // A job answers its caller itself; what escapes is a bug, not a reason to stop.
            log_event(LogLevel::error, "pg_store.job_failed", {{"error", e.what()}});
        }
    }
}

std::size_t PgStore::user_shard(UserId user) const { return ring_.shard_of(ring_key_user(user)); }
std::size_t PgStore::conversation_shard(const std::string& id) const { return ring_.shard_of(ring_key_conversation(id)); }
std::size_t PgStore::name_shard(const std::string& username) const { return ring_.shard_of("name:" + username); }


// ---- users

Result<Ok> PgStore::create_user(const UserRecord& u) {
    try {
        // The name first, on its own shard: it is what must be unique.
        bool claimed = on(name_shard(u.username), [&](Connection& c) {
            auto r = c.exec("INSERT INTO usernames(username, user_id, claimed_at) VALUES($1,$2,$3) "
                            "ON CONFLICT (username) DO NOTHING",
                            {Param::text(u.username), Param::id(u.user_id), Param::i64(u.created_at)});
            return r.affected() == 1;
        });
        if (!claimed) {
            // Taken — unless by a create_user that died before writing its user.
            auto holder = on(name_shard(u.username), [&](Connection& c) {
                return c.exec("SELECT user_id, claimed_at FROM usernames WHERE username=$1", {Param::text(u.username)});
            });
            if (holder.empty() || holder.i64(0, 1) > u.created_at - kStaleClaimMs || user_by_id(holder.id(0, 0)))
                return err(Code::conflict, "username is taken");
            bool retaken = on(name_shard(u.username), [&](Connection& c) {
                auto r = c.exec("UPDATE usernames SET user_id=$2, claimed_at=$3 WHERE username=$1 AND user_id=$4",
                                {Param::text(u.username), Param::id(u.user_id), Param::i64(u.created_at),
                                 Param::id(holder.id(0, 0))});
                return r.affected() == 1;
            });
            if (!retaken) return err(Code::conflict, "username is taken");
        }
        try {
            on(user_shard(u.user_id), [&](Connection& c) {
                c.exec(std::string("INSERT INTO users(") + kUserColumns + ") VALUES($1,$2,$3,$4,$5,NULL,$6)",
                       {Param::id(u.user_id), Param::text(u.username), Param::text(u.password_hash),
                        Param::text(u.display_name), Param::text(u.description), Param::i64(u.created_at)});
                return 0;
            });
        } catch (const Error&) {
            // Give the name back; if that fails too, the claim goes stale.
            try {
                on(name_shard(u.username), [&](Connection& c) {
                    c.exec("DELETE FROM usernames WHERE username=$1 AND user_id=$2",
                           {Param::text(u.username), Param::id(u.user_id)});
                    return 0;
                });
            } catch (const Error&) {
            }
            throw;
        }
        return Ok{};
    } catch (const Error& e) {
        return err(Code::unavailable, std::string("store write failed: ") + e.message);
    }
}

std::optional<UserRecord> PgStore::user_by_id(UserId user) {
    return on(user_shard(user), [&](Connection& c) -> std::optional<UserRecord> {
        auto r = c.exec(std::string("SELECT ") + kUserColumns + " FROM users WHERE user_id=$1", {Param::id(user)});
        if (r.empty()) return std::nullopt;
        return user_from(r, 0);
    });
}

std::optional<UserRecord> PgStore::user_by_name(const std::string& username) {
    auto holder = on(name_shard(username), [&](Connection& c) {
        return c.exec("SELECT user_id FROM usernames WHERE username=$1", {Param::text(username)});
    });
    if (holder.empty()) return std::nullopt;
    auto u = user_by_id(holder.id(0, 0));
    if (u && u->username != username) return std::nullopt;
    return u;
}

Result<UserRecord> PgStore::update_profile(UserId user, const ProfilePatch& patch) {
    try {
        return on(user_shard(user), [&](Connection& c) -> Result<UserRecord> {
            std::string sets;
            std::vector<Param> params{Param::id(user)};
            auto set = [&](const char* column, Param p) {
                params.push_back(std::move(p));
                sets += (sets.empty() ? "" : ", ") + std::string(column) + "=$" + std::to_string(params.size());
            };
            if (patch.display_name) set("display_name", Param::text(*patch.display_name));
            if (patch.description) set("description", Param::text(*patch.description));
            if (patch.avatar_media_id)
                set("avatar_media_id", *patch.avatar_media_id ? Param::id(**patch.avatar_media_id) : Param::null());
            Rows r;
            if (sets.empty())
                r = c.exec(std::string("SELECT ") + kUserColumns + " FROM users WHERE user_id=$1", {Param::id(user)});
            else
                r = c.exec("UPDATE users SET " + sets + " WHERE user_id=$1 RETURNING " + kUserColumns, params);
            if (r.empty()) return err(Code::not_found, "no such user");
            return user_from(r, 0);
        });
    } catch (const Error& e) {
        return err(Code::unavailable, std::string("store write failed: ") + e.message);
    }
}

// ---- devices and tokens

Result<DeviceRecord> PgStore::open_device(UserId user, std::optional<DeviceId> existing, DeviceId new_id,
                                          const std::string& name, std::int64_t now, std::size_t max_devices) {
    try {
        return on(user_shard(user), [&](Connection& c) {
            return c.transaction([&](Connection& t) -> Result<DeviceRecord> {
                // One sign-in of a user at a time: the device count holds.
                // A deletion holds the row until it commits; after it, no device.
                if (t.exec("SELECT 1 FROM users WHERE user_id=$1 FOR UPDATE", {Param::id(user)}).empty() &&
                    !t.exec("SELECT 1 FROM deleted_users WHERE user_id=$1", {Param::id(user)}).empty())
                    return err(Code::not_found, "no such user");
                if (existing) {
                    auto r = t.exec(std::string("UPDATE devices SET last_seen=$3 WHERE user_id=$1 AND device_id=$2 "
                                                "RETURNING ") + kDeviceColumns,
                                    {Param::id(user), Param::id(*existing), Param::i64(now)});
                    if (!r.empty()) return device_from(r, 0);
                }
                auto count = t.exec("SELECT count(*) FROM devices WHERE user_id=$1", {Param::id(user)});
                if (static_cast<std::size_t>(count.i64(0, 0)) >= max_devices)
                    return err(Code::conflict,
                               "device limit reached (" + std::to_string(max_devices) + "): remove a device first");
                t.exec("INSERT INTO devices(user_id, device_id, device_name, generation, created_at, last_seen) "
                       "VALUES($1,$2,$3,0,$4,$4)",
                       {Param::id(user), Param::id(new_id), Param::text(name), Param::i64(now)});
                return DeviceRecord{user, new_id, name, 0, now, now};
            });
        });
    } catch (const Error& e) {
        return err(Code::unavailable, std::string("store write failed: ") + e.message);
    }
}

std::vector<DeviceRecord> PgStore::devices(UserId user) {
    return on(user_shard(user), [&](Connection& c) {
        auto r = c.exec(std::string("SELECT ") + kDeviceColumns + " FROM devices WHERE user_id=$1 ORDER BY device_id",
                        {Param::id(user)});
        std::vector<DeviceRecord> out;
        for (int i = 0; i < r.size(); ++i) out.push_back(device_from(r, i));
        return out;
    });
}

std::optional<DeviceRecord> PgStore::device(UserId user, DeviceId device) {
    return on(user_shard(user), [&](Connection& c) { return load_device(c, user, device); });
}

void PgStore::touch_device(UserId user, DeviceId device, std::int64_t now) {
    on(user_shard(user), [&](Connection& c) {
        c.exec("UPDATE devices SET last_seen=$3 WHERE user_id=$1 AND device_id=$2",
               {Param::id(user), Param::id(device), Param::i64(now)});
        return 0;
    });
}

bool PgStore::remove_device(UserId user, DeviceId device) {
    return on(user_shard(user), [&](Connection& c) {
        return c.transaction([&](Connection& t) {
            revoke_in(t, user, device);
            t.exec("DELETE FROM inbox WHERE user_id=$1 AND device_id=$2", {Param::id(user), Param::id(device)});
            auto r = t.exec("DELETE FROM devices WHERE user_id=$1 AND device_id=$2", {Param::id(user), Param::id(device)});
            return r.affected() > 0;
        });
    });
}

bool PgStore::revoke_device(UserId user, DeviceId device) {
    return on(user_shard(user), [&](Connection& c) {
        return c.transaction([&](Connection& t) { return revoke_in(t, user, device); });
    });
}

void PgStore::add_refresh_token(UserId user, DeviceId device, const std::string& token_hash, std::int64_t expires_at) {
    on(user_shard(user), [&](Connection& c) {
        c.exec("INSERT INTO refresh_tokens(token_hash, user_id, device_id, spent, expires_at) VALUES($1,$2,$3,false,$4)",
               {Param::text(token_hash), Param::id(user), Param::id(device), Param::i64(expires_at)});
        return 0;
    });
}

RefreshOutcome PgStore::rotate_refresh_token(UserId user, const std::string& token_hash, const std::string& next_hash,
                                             std::int64_t next_expires_at, std::int64_t now) {
    return on(user_shard(user), [&](Connection& c) {
        return c.transaction([&](Connection& t) {
            RefreshOutcome out;
            auto r = t.exec("SELECT device_id, spent, expires_at FROM refresh_tokens WHERE token_hash=$1 AND user_id=$2 "
                            "FOR UPDATE",
                            {Param::text(token_hash), Param::id(user)});
            if (r.empty() || r.i64(0, 2) <= now) return out;
            DeviceId device = r.id(0, 0);
            if (r.boolean(0, 1)) {
                // A spent token again: stolen, or a client that lost the answer. Sign the device out.
                revoke_in(t, user, device);
                if (auto d = load_device(t, user, device)) out.device = *d;
                out.kind = RefreshOutcome::Kind::replayed;
                return out;
            }
            auto d = load_device(t, user, device);
            if (!d) return out;
            t.exec("UPDATE refresh_tokens SET spent=true WHERE token_hash=$1", {Param::text(token_hash)});
            t.exec("INSERT INTO refresh_tokens(token_hash, user_id, device_id, spent, expires_at) VALUES($1,$2,$3,false,$4)",
                   {Param::text(next_hash), Param::id(user), Param::id(device), Param::i64(next_expires_at)});
            t.exec("UPDATE devices SET last_seen=$3 WHERE user_id=$1 AND device_id=$2",
                   {Param::id(user), Param::id(device), Param::i64(now)});
            out.kind = RefreshOutcome::Kind::rotated;
            out.device = *d;
            return out;
        });
    });
}

void PgStore::add_ticket(UserId user, DeviceId device, const std::string& ticket_hash, std::int64_t expires_at) {
    on(user_shard(user), [&](Connection& c) {
        c.exec("INSERT INTO ws_tickets(ticket_hash, user_id, device_id, expires_at) VALUES($1,$2,$3,$4)",
               {Param::text(ticket_hash), Param::id(user), Param::id(device), Param::i64(expires_at)});
        return 0;
    });
}

std::optional<DeviceId> PgStore::take_ticket(UserId user, const std::string& ticket_hash, std::int64_t now) {
    return on(user_shard(user), [&](Connection& c) -> std::optional<DeviceId> {
        // Spent by this call whatever it finds: single use.
        auto r = c.exec("DELETE FROM ws_tickets WHERE ticket_hash=$1 RETURNING user_id, device_id, expires_at",
                        {Param::text(ticket_hash)});
        if (r.empty() || r.id(0, 0) != user || r.i64(0, 2) <= now) return std::nullopt;
        return r.id(0, 1);
    });
}

// ---- sends: claim, home transaction, fan-out (docs/SCALE.md, "A send")

void PgStore::commit_send(SendRequest req, std::function<void(Result<SendOutcome>)> done) {
    // Bounded like the SQLite writer's queue (limits.max_pending_writes).
    if (queued_writes_.load() >= config_.max_queue) return done(err(Code::unavailable, "the store is overloaded; retry"));
    ++queued_writes_;
    auto key = req.conversation_id;
    post(key, [this, req = std::move(req), done = std::move(done)]() mutable {
        --queued_writes_;
        Result<SendOutcome> out = err(Code::unavailable, "the store could not commit the message");
        try {
            out = send_now(req);
        } catch (const Error& e) {
            out = err(Code::unavailable, "the store could not commit the message: " + e.message);
            // A shard that does not answer is tried again after the pool's "down" window.
            if (e.kind == ErrorKind::connection) out = shard_down(e.message);
        }
        done(std::move(out));
    });
}

Result<SendOutcome> PgStore::send_now(const SendRequest& req) {
    const std::size_t sender_shard = user_shard(req.sender);
    const std::size_t home = conversation_shard(req.conversation_id);
    SendOutcome out;
    auto& m = out.message;

    // 1. The idempotency key, on the sender's shard: unique per sender
    // whatever the conversation.
    MessageId id = req.new_message_id;
    bool claimed_now = on(sender_shard, [&](Connection& c) {
        return c.exec("INSERT INTO dedupe(sender, client_msg_id, payload_hash, message_id, conversation_id, created_at) "
                      "VALUES($1,$2,$3,$4,$5,$6) ON CONFLICT (sender, client_msg_id) DO NOTHING",
                      {Param::id(req.sender), Param::text(req.client_msg_id), Param::text(req.payload_hash),
                       Param::id(id), Param::text(req.conversation_id), Param::i64(req.ts)})
                   .affected() == 1;
    });
    if (!claimed_now) {
        auto d = on(sender_shard, [&](Connection& c) {
            return c.exec("SELECT payload_hash, message_id, conversation_id, seq, prev_message_id, ts FROM dedupe "
                          "WHERE sender=$1 AND client_msg_id=$2",
                          {Param::id(req.sender), Param::text(req.client_msg_id)});
        });
        if (d.empty()) return err(Code::unavailable, "the send raced its own retry; retry");
        if (d.text(0, 0) != req.payload_hash)
            return err(Code::conflict, "client_msg_id was already used for a different message");
        id = d.id(0, 1);
        if (d.i64(0, 3) > 0) {
            // Done before: the first answer, kept with the key (its message may be gone from history).
            m.message_id = id;
            m.client_msg_id = req.client_msg_id;
            m.conversation_id = std::string(d.text(0, 2));
            m.seq = d.i64(0, 3);
            m.prev_message_id = d.id(0, 4);
            m.ts = d.i64(0, 5);
            m.from_user = req.sender;
            out.duplicate = true;
            return out;
        }
        // Claimed by an attempt that did not finish: go on with its id; the
        // home shard knows whether it committed.
    }
    auto refuse = [&](natter::Error e) -> Result<SendOutcome> {
        if (claimed_now) {
            try {
                on(sender_shard, [&](Connection& c) {
                    c.exec("DELETE FROM dedupe WHERE sender=$1 AND client_msg_id=$2 AND message_id=$3 AND seq=0",
                           {Param::id(req.sender), Param::text(req.client_msg_id), Param::id(id)});
                    return 0;
                });
            } catch (const pg::Error&) {
                // The claim stays; a retry finds it and asks the home shard again.
            }
        }
        return e;
    };

    // 2. What lives on other shards, checked before the home transaction.
    if (req.media_id) {
        bool used = on(media_shard(req.media_id), [&](Connection& c) {
            return c.exec("UPDATE media SET referenced_at=CASE WHEN referenced_at=0 THEN $3 ELSE referenced_at END "
                          "WHERE media_id=$1 AND owner=$2 AND verified",
                          {Param::id(req.media_id), Param::id(req.sender), Param::i64(req.ts)})
                       .affected() == 1;
        });
        if (!used) return refuse(err(Code::not_found, "no such media (it may have expired): upload it again"));
    }

    // 3. The home shard's one transaction.
    m.message_id = id;
    m.client_msg_id = req.client_msg_id;
    m.conversation_id = req.conversation_id;
    m.kind = req.kind;
    m.from_user = req.sender;
    m.from_device = req.sender_device;
    m.to_json = req.to_json;
    m.body = req.body;
    m.attachment_json = req.attachment_json;
    m.ts = req.ts;
    std::vector<UserId> targets, blocked;
    auto committed = on(home, [&](Connection& c) {
        return c.transaction([&](Connection& t) -> Result<bool> {
            auto there = t.exec("SELECT seq, prev_message_id, ts FROM messages WHERE message_id=$1", {Param::id(id)});
            if (!there.empty()) {
                m.seq = there.i64(0, 0);
                m.prev_message_id = there.id(0, 1);
                m.ts = there.i64(0, 2);
                return false;  // committed by an earlier attempt
            }
            if (req.group) {
                auto member = t.exec("SELECT 1 FROM members WHERE conversation_id=$1 AND user_id=$2",
                                     {Param::text(req.conversation_id), Param::id(req.sender)});
                if (member.empty()) {
                    auto g = t.exec("SELECT 1 FROM conversations WHERE conversation_id=$1", {Param::text(req.conversation_id)});
                    if (g.empty()) return err(Code::not_found, "no such group");
                    return err(Code::forbidden, "not a member of this group");
                }
            }
            // With the recipient's membership: a deleted account leaves its 1:1 chats.
            auto last = t.exec("SELECT last_seq, last_message_id, "
                               "EXISTS(SELECT 1 FROM members WHERE conversation_id=$1 AND user_id=$2) "
                               "FROM conversations WHERE conversation_id=$1 FOR UPDATE",
                               {Param::text(req.conversation_id), Param::id(req.recipient)});
            if (!last.empty() && !req.group && req.recipient && !last.boolean(0, 2))
                return err(Code::not_found, "no such user");
            if (last.empty()) {
                if (req.group) return err(Code::not_found, "no such group");
                // A new 1:1 chat: the recipient must exist (its shard must
                // answer). Later sends need only the home shard.
                if (req.recipient && !user_by_id(req.recipient)) return err(Code::not_found, "no such user");
                t.exec("INSERT INTO conversations(conversation_id, last_seq, last_message_id, created_at) "
                       "VALUES($1,0,0,$2) ON CONFLICT DO NOTHING",
                       {Param::text(req.conversation_id), Param::i64(req.ts)});
                for (UserId p : req.participants)
                    t.exec("INSERT INTO members(conversation_id, user_id) VALUES($1,$2) ON CONFLICT DO NOTHING",
                           {Param::text(req.conversation_id), Param::id(p)});
                last = t.exec("SELECT last_seq, last_message_id FROM conversations WHERE conversation_id=$1 FOR UPDATE",
                              {Param::text(req.conversation_id)});
            }
            m.seq = last.i64(0, 0) + 1;
            m.prev_message_id = last.id(0, 1);
            t.exec("INSERT INTO messages(message_id, conversation_id, seq, prev_message_id, kind, from_user, from_device, "
                   "client_msg_id, to_json, body, attachment, event, ts, media_id) "
                   "VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)",
                   {Param::id(m.message_id), Param::text(m.conversation_id), Param::i64(m.seq), Param::id(m.prev_message_id),
                    Param::text(kind_name(m.kind)), Param::id(m.from_user), Param::id(m.from_device),
                    Param::text(m.client_msg_id), Param::text(m.to_json), text_or_null(m.body),
                    text_or_null(m.attachment_json), text_or_null(m.event_json), Param::i64(m.ts),
                    req.media_id ? Param::id(req.media_id) : Param::null()});
            t.exec("UPDATE conversations SET last_seq=$2, last_message_id=$3 WHERE conversation_id=$1",
                   {Param::text(m.conversation_id), Param::i64(m.seq), Param::id(m.message_id)});
            // Receipts are news to a member when they cover one of its messages.
            t.exec("UPDATE members SET last_sent_seq=$3, first_sent_seq=CASE first_sent_seq WHEN 0 THEN $3 ELSE first_sent_seq END "
                   "WHERE conversation_id=$1 AND user_id=$2",
                   {Param::text(m.conversation_id), Param::id(m.from_user), Param::i64(m.seq)});
            // The fan-out to do, recipients first, then the sender's other devices.
            auto mb = t.exec("SELECT user_id FROM members WHERE conversation_id=$1 ORDER BY user_id=$2, user_id",
                             {Param::text(m.conversation_id), Param::id(m.from_user)});
            for (int i = 0; i < mb.size(); ++i) targets.push_back(mb.id(i, 0));
            // A target with older messages of this conversation still in the
            // outbox (its shard was down) gets this one after them, from the
            // retry: never out of order.
            auto waiting = t.exec("SELECT DISTINCT target_user FROM outbox WHERE conversation_id=$1 AND seq<$2",
                                  {Param::text(m.conversation_id), Param::i64(m.seq)});
            for (int i = 0; i < waiting.size(); ++i) blocked.push_back(waiting.id(i, 0));
            t.exec("INSERT INTO outbox(message_id, position, conversation_id, seq, target_user, skip_device, created_at) "
                   "SELECT $1, t.ord, $5, $6, t.u, $3, $4 FROM unnest($2::bigint[]) WITH ORDINALITY AS t(u, ord)",
                   {Param::id(m.message_id), id_array(targets), Param::id(m.from_device), Param::i64(m.ts),
                    Param::text(m.conversation_id), Param::i64(m.seq)});
            return true;
        });
    });
    if (!committed.ok()) return refuse(committed.error());

    // 4. The key remembers the answer, for retries after history is gone.
    try {
        on(sender_shard, [&](Connection& c) {
            c.exec("UPDATE dedupe SET seq=$3, prev_message_id=$4, ts=$5 WHERE sender=$1 AND client_msg_id=$2",
                   {Param::id(req.sender), Param::text(req.client_msg_id), Param::i64(m.seq),
                    Param::id(m.prev_message_id), Param::i64(m.ts)});
            return 0;
        });
    } catch (const pg::Error&) {
        // A retry then finds the message on the home shard: the same answer.
    }
    if (!*committed) {
        out.duplicate = true;
        return out;
    }
    // 5. Durable: the inboxes (but of targets waiting for older ones).
    if (!blocked.empty())
        targets.erase(std::remove_if(targets.begin(), targets.end(),
                                     [&](UserId u) { return std::find(blocked.begin(), blocked.end(), u) != blocked.end(); }),
                      targets.end());
    out.targets = fan_out(m, targets, req.sender_device);
    return out;
}

void PgStore::on_late_delivery(std::function<void(const SendOutcome&)> listener) {
    std::lock_guard lock(listener_mu_);
    late_listener_ = std::move(listener);
}

void PgStore::deliver_late(const SendOutcome& out) {
    std::lock_guard lock(listener_mu_);
    if (late_listener_) late_listener_(out);
}

std::size_t PgStore::outbox_depth() {
    std::size_t n = 0;
    for (std::size_t shard = 0; shard < pools_.size(); ++shard) {
        if (!pools_[shard]->healthy()) continue;
        try {
            n += on(shard, [](Connection& c) { return std::size_t(c.exec("SELECT count(*) FROM outbox").i64(0, 0)); });
        } catch (const Error&) {
        }
    }
    return n;
}

// The outbox of every shard that answers: each conversation with fan-outs
// left goes to its worker (one retry queued per conversation at a time).
void PgStore::scan_outboxes() {
    for (std::size_t shard = 0; shard < pools_.size(); ++shard) {
        if (!pools_[shard]->healthy()) continue;
        try {
            auto r = on(shard, [](Connection& c) { return c.exec("SELECT DISTINCT conversation_id FROM outbox LIMIT 1000"); });
            for (int i = 0; i < r.size(); ++i) {
                std::string conversation_id(r.text(i, 0));
                {
                    std::lock_guard lock(retry_mu_);
                    if (!retrying_.insert(conversation_id).second) continue;
                }
                post(conversation_id, [this, shard, conversation_id] {
                    try {
                        retry_conversation(shard, conversation_id);
                    } catch (const Error& e) {
                        log_event(LogLevel::warn, "pg_store.retry_failed", {{"conversation", conversation_id}, {"error", e.message}});
                    }
                    std::lock_guard lock(retry_mu_);
                    retrying_.erase(conversation_id);
                });
            }
        } catch (const Error&) {
            // This shard is down: its outbox waits for it.
        }
    }
}

void PgStore::retry_conversation(std::size_t shard, const std::string& conversation_id) {
    auto rows = on(shard, [&](Connection& c) {
        return c.exec("SELECT o.target_user, o.skip_device, m.message_id, m.client_msg_id, m.conversation_id, m.seq, "
                      "m.prev_message_id, m.kind, m.from_user, m.from_device, m.to_json, m.body, m.attachment, m.event, m.ts "
                      "FROM outbox o JOIN messages m ON m.message_id=o.message_id "
                      "WHERE o.conversation_id=$1 ORDER BY o.seq, o.position",
                      {Param::text(conversation_id)});
    });
    std::vector<UserId> failed;  // a target that failed gets nothing later this round: order holds
    int i = 0;
    while (i < rows.size()) {
        StoredMessage m = message_from(rows, i, 2);
        DeviceId skip = rows.id(i, 1);
        std::vector<UserId> targets;
        for (; i < rows.size() && rows.id(i, 2) == m.message_id; ++i) {
            UserId u = rows.id(i, 0);
            if (std::find(failed.begin(), failed.end(), u) == failed.end()) targets.push_back(u);
        }
        if (targets.empty()) continue;
        SendOutcome out;
        out.message = m;
        out.targets = fan_out(m, targets, skip, &failed);
        for (UserId u : targets) {
            bool wrote = std::any_of(out.targets.begin(), out.targets.end(), [&](const InboxTarget& t) { return t.user == u; });
            bool lost = std::find(failed.begin(), failed.end(), u) != failed.end();
            if (!wrote && !lost) out.resync_users.push_back(u);
        }
        if (!out.targets.empty() || !out.resync_users.empty()) deliver_late(out);
    }
}

std::vector<InboxTarget> PgStore::fan_out(const StoredMessage& m, const std::vector<UserId>& targets, DeviceId skip_device,
                                         std::vector<UserId>* failed) {
    std::vector<InboxTarget> out;
    std::vector<UserId> done;
    for (UserId user : targets) {
        if (!pools_[user_shard(user)]->healthy()) {
            // Down a moment ago: the retry will try it, without a connect timeout here.
            if (failed) failed->push_back(user);
            continue;
        }
        try {
            // One writer per user at a time (a transaction-scoped advisory
            // lock, taken by a statement of its own so the insert's snapshot
            // sees every row committed before it): the user's rows commit in
            // inbox_id order, so a reader after row N never misses a lower
            // one committed later, and each row names the device's previous
            // row for the sockets' gap check. One round trip (a pipeline).
            auto results = on(user_shard(user), [&](Connection& c) {
                // READ COMMITTED named, not inherited: under a role or
                // database default of REPEATABLE READ the insert's snapshot
                // would be the lock statement's, taken before the lock.
                return c.pipeline({
                    Statement{"BEGIN ISOLATION LEVEL READ COMMITTED", {}},
                    Statement{"SELECT pg_advisory_xact_lock($1)", {Param::id(user)}},
                    // The marker makes a second fan-out of the message to
                    // this user write nothing, even where the rows of the
                    // first were acked (deleted) since.
                    Statement{
                        "WITH mark AS (INSERT INTO fanned_out(user_id, message_id, created_at) VALUES($1, $2, $14) "
                        "ON CONFLICT DO NOTHING RETURNING 1), "
                        "ins AS (INSERT INTO inbox(user_id, device_id, message_id, conversation_id, seq, "
                        "prev_message_id, kind, from_user, from_device, client_msg_id, to_json, body, attachment, event, "
                        "ts, created_at) "
                        "SELECT d.user_id, d.device_id, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14 "
                        "FROM devices d, mark WHERE d.user_id=$1 AND NOT (d.user_id=$7 AND d.device_id=$15) "
                        "ORDER BY d.device_id "
                        "ON CONFLICT (user_id, device_id, message_id) DO NOTHING RETURNING inbox_id, device_id) "
                        "SELECT ins.inbox_id, ins.device_id, COALESCE((SELECT max(i.inbox_id) FROM inbox i "
                        "WHERE i.user_id=$1 AND i.device_id=ins.device_id), 0) FROM ins",
                        {Param::id(user), Param::id(m.message_id), Param::text(m.conversation_id), Param::i64(m.seq),
                         Param::id(m.prev_message_id), Param::text(kind_name(m.kind)), Param::id(m.from_user),
                         Param::id(m.from_device), Param::text(m.client_msg_id), Param::text(m.to_json),
                         text_or_null(m.body), text_or_null(m.attachment_json), text_or_null(m.event_json),
                         Param::i64(m.ts), Param::id(skip_device)}},
                    Statement{"COMMIT", {}},
                });
            });
            const auto& rows = results.at(2);
            std::vector<InboxTarget> mine;
            for (int i = 0; i < rows.size(); ++i)
                mine.push_back(InboxTarget{user, rows.id(i, 1), rows.i64(i, 0), rows.i64(i, 2)});
            std::sort(mine.begin(), mine.end(), [](const auto& a, const auto& b) { return a.device < b.device; });
            out.insert(out.end(), mine.begin(), mine.end());
            done.push_back(user);
        } catch (const pg::Error& e) {
            if (failed) failed->push_back(user);
            log_event(LogLevel::warn, "pg_store.fan_out_deferred",
                      {{"message_id", id_string(m.message_id)}, {"user", id_string(user)}, {"error", e.message}});
        }
    }
    if (!done.empty()) {
        try {
            on(conversation_shard(m.conversation_id), [&](Connection& c) {
                c.exec("DELETE FROM outbox WHERE message_id=$1 AND target_user = ANY($2::bigint[])",
                       {Param::id(m.message_id), id_array(done)});
                return 0;
            });
        } catch (const pg::Error&) {
            // Done again later: the inbox insert writes nothing twice.
        }
    }
    return out;
}

// ---- inboxes and acks

std::vector<InboxItem> PgStore::read_inbox(UserId user, DeviceId device, InboxId after, std::size_t limit) {
    return on(user_shard(user), [&](Connection& c) {
        auto r = c.exec(std::string("SELECT inbox_id, ") + kMessageColumns +
                            " FROM inbox WHERE user_id=$1 AND device_id=$2 AND inbox_id>$3 ORDER BY inbox_id LIMIT $4",
                        {Param::id(user), Param::id(device), Param::i64(after), Param::i64(std::int64_t(limit))});
        std::vector<InboxItem> out;
        for (int i = 0; i < r.size(); ++i) out.push_back(InboxItem{r.i64(i, 0), message_from(r, i, 1)});
        return out;
    });
}

void PgStore::ack(UserId user, DeviceId device, std::vector<MessageId> ids, std::int64_t now,
                  std::function<void(AckOutcome)> done) {
    post(id_string(user), [this, user, device, ids = std::move(ids), now, done = std::move(done)] {
        AckOutcome out;
        try {
            out = ack_now(user, device, ids, now);
        } catch (const Error& e) {
            log_event(LogLevel::error, "pg_store.ack_failed", {{"user", id_string(user)}, {"error", e.message}});
        }
        done(std::move(out));
    });
}

AckOutcome PgStore::ack_now(UserId user, DeviceId device, const std::vector<MessageId>& ids, std::int64_t now) {
    AckOutcome out;
    if (ids.empty()) return out;
    auto removed = on(user_shard(user), [&](Connection& c) {
        return c.exec("DELETE FROM inbox WHERE user_id=$1 AND device_id=$2 AND message_id = ANY($3::bigint[]) "
                      "RETURNING conversation_id, seq, from_user",
                      {Param::id(user), Param::id(device), id_array(ids)});
    });
    out.removed = static_cast<std::size_t>(removed.size());
    // A device gets its inbox in order: acking seq N of a conversation means
    // everything up to N from the others reached it.
    std::map<std::string, std::int64_t> newest;
    for (int i = 0; i < removed.size(); ++i) {
        if (removed.id(i, 2) == user) continue;
        auto& s = newest[std::string(removed.text(i, 0))];
        s = std::max(s, removed.i64(i, 1));
    }
    for (const auto& entry : newest) {
        // Named copies, not structured bindings: clang 14 cannot capture those.
        const std::string& conversation_id = entry.first;
        const std::int64_t seq = entry.second;
        try {
            auto change = on(conversation_shard(conversation_id), [&](Connection& c) {
                return c.transaction([&](Connection& t) -> std::optional<ReceiptChange> {
                    auto marks = marks_of(t, conversation_id, user, true);
                    if (!marks || seq <= marks->delivered) return std::nullopt;
                    t.exec("UPDATE members SET delivered_seq=$3, receipt_at=$4 WHERE conversation_id=$1 AND user_id=$2",
                           {Param::text(conversation_id), Param::id(user), Param::i64(seq), Param::i64(now)});
                    return ReceiptChange{conversation_id, user, false, seq,
                                         senders_between(t, conversation_id, std::max(marks->delivered, marks->before_join),
                                                         seq, user)};
                });
            });
            if (change) out.receipts.push_back(std::move(*change));
        } catch (const Error& e) {
            // The rows are acked; the watermark moves with a later ack.
            log_event(LogLevel::warn, "pg_store.watermark_deferred", {{"conversation", conversation_id}, {"error", e.message}});
        }
    }
    return out;
}

std::size_t PgStore::inbox_depth(UserId user, DeviceId device) {
    return on(user_shard(user), [&](Connection& c) {
        return static_cast<std::size_t>(
            c.exec("SELECT count(*) FROM inbox WHERE user_id=$1 AND device_id=$2", {Param::id(user), Param::id(device)})
                .i64(0, 0));
    });
}

bool PgStore::truncated(UserId user, DeviceId device) {
    return on(user_shard(user), [&](Connection& c) {
        auto r = c.exec("SELECT inbox_truncated FROM devices WHERE user_id=$1 AND device_id=$2",
                        {Param::id(user), Param::id(device)});
        return !r.empty() && r.boolean(0, 0);
    });
}

void PgStore::clear_truncated(UserId user, DeviceId device) {
    on(user_shard(user), [&](Connection& c) {
        c.exec("UPDATE devices SET inbox_truncated=false WHERE user_id=$1 AND device_id=$2",
               {Param::id(user), Param::id(device)});
        return 0;
    });
}

// ---- history and the conversation list

std::vector<StoredMessage> PgStore::history(const std::string& conversation_id, std::int64_t from_seq,
                                            std::int64_t before_seq, std::size_t limit) {
    return on(conversation_shard(conversation_id), [&](Connection& c) {
        auto r = c.exec(std::string("SELECT ") + kMessageColumns +
                            " FROM messages WHERE conversation_id=$1 AND seq>=$2 AND seq<$3 ORDER BY seq DESC LIMIT $4",
                        {Param::text(conversation_id), Param::i64(from_seq),
                         Param::i64(before_seq > 0 ? before_seq : INT64_MAX), Param::i64(std::int64_t(limit))});
        std::vector<StoredMessage> out;
        for (int i = 0; i < r.size(); ++i) out.push_back(message_from(r, i, 0));
        return out;
    });
}

// Every shard holds some of the user's conversations (by their home): one
// query each, merged by recent activity.
std::vector<ConversationSummary> PgStore::conversations(UserId user, std::size_t limit) {
    static const std::string sql = std::string(
        "SELECT c.conversation_id, c.last_seq, c.last_message_id, "
        "(SELECT count(*) FROM messages x WHERE x.conversation_id=c.conversation_id "
        "  AND x.seq > greatest(mb.read_seq, mb.joined_seq - 1) AND x.from_user<>$1 AND x.kind<>'system'), "
        "m.message_id IS NOT NULL, ") +
        "m.message_id, m.client_msg_id, m.conversation_id, m.seq, m.prev_message_id, m.kind, m.from_user, m.from_device, "
        "m.to_json, m.body, m.attachment, m.event, m.ts "
        "FROM members mb JOIN conversations c ON c.conversation_id=mb.conversation_id "
        "LEFT JOIN messages m ON m.message_id=c.last_message_id "
        "WHERE mb.user_id=$1 ORDER BY c.last_message_id DESC LIMIT $2";
    std::vector<std::pair<std::uint64_t, ConversationSummary>> all;
    for (std::size_t shard = 0; shard < pools_.size(); ++shard) {
        on(shard, [&](Connection& c) {
            auto r = c.exec(sql, {Param::id(user), Param::i64(std::int64_t(limit))});
            for (int i = 0; i < r.size(); ++i) {
                ConversationSummary s;
                s.conversation_id = std::string(r.text(i, 0));
                s.last_seq = r.i64(i, 1);
                s.unread = r.i64(i, 3);
                if (r.boolean(i, 4)) s.last_message = message_from(r, i, 5);
                all.emplace_back(r.id(i, 2), std::move(s));
            }
            return 0;
        });
    }
    // Message ids grow with time: the newest last message first.
    std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<ConversationSummary> out;
    for (auto& [_, s] : all) {
        if (out.size() == limit) break;
        out.push_back(std::move(s));
    }
    return out;
}

}  // namespace natter::pg
