#include "adapters/postgres/pg_store.hpp"

#include <stdexcept>
#include <utility>

#include "adapters/postgres/pg_conn.hpp"
#include "adapters/postgres/pg_pool.hpp"
#include "adapters/postgres/pg_schema.hpp"

namespace natter::pg {

namespace {

std::vector<std::string> shard_names(const std::vector<ShardConfig>& shards) {
    std::vector<std::string> names;
    for (const auto& s : shards) names.push_back(s.name);
    return names;
}

constexpr const char* kUserColumns =
    "user_id, username, password_hash, display_name, description, avatar_media_id, created_at";
constexpr const char* kDeviceColumns = "user_id, device_id, device_name, generation, created_at, last_seen";

UserRecord user_from(const Rows& r, int row) {
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

DeviceRecord device_from(const Rows& r, int row) {
    DeviceRecord d;
    d.user_id = r.id(row, 0);
    d.device_id = r.id(row, 1);
    d.device_name = std::string(r.text(row, 2));
    d.generation = r.i64(row, 3);
    d.created_at = r.i64(row, 4);
    d.last_seen = r.i64(row, 5);
    return d;
}

std::optional<DeviceRecord> load_device(Connection& c, UserId user, DeviceId device) {
    auto r = c.exec(std::string("SELECT ") + kDeviceColumns + " FROM devices WHERE user_id=$1 AND device_id=$2",
                    {Param::id(user), Param::id(device)});
    if (r.empty()) return std::nullopt;
    return device_from(r, 0);
}

bool revoke_in(Connection& c, UserId user, DeviceId device) {
    auto r = c.exec("UPDATE devices SET generation=generation+1 WHERE user_id=$1 AND device_id=$2",
                    {Param::id(user), Param::id(device)});
    c.exec("DELETE FROM refresh_tokens WHERE user_id=$1 AND device_id=$2", {Param::id(user), Param::id(device)});
    c.exec("DELETE FROM ws_tickets WHERE user_id=$1 AND device_id=$2", {Param::id(user), Param::id(device)});
    return r.affected() > 0;
}

Error not_built() { return Error(ErrorKind::other, "", "the PostgreSQL store does not do this yet"); }

// A username claim older than this whose user never appeared is a leftover
// of a create_user cut off between its two writes: it may be taken again.
constexpr std::int64_t kStaleClaimMs = 60'000;

}  // namespace

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
}

PgStore::~PgStore() = default;

std::size_t PgStore::user_shard(UserId user) const { return ring_.shard_of(ring_key_user(user)); }
std::size_t PgStore::conversation_shard(const std::string& id) const { return ring_.shard_of(ring_key_conversation(id)); }
std::size_t PgStore::name_shard(const std::string& username) const { return ring_.shard_of("name:" + username); }

template <class F>
auto PgStore::on(std::size_t shard, F&& fn) -> decltype(fn(std::declval<Connection&>())) {
    auto lease = pools_.at(shard)->lease();
    return fn(*lease);
}

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
                t.exec("SELECT 1 FROM users WHERE user_id=$1 FOR UPDATE", {Param::id(user)});
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

// ---- not built yet: the message path

void PgStore::commit_send(SendRequest, std::function<void(Result<SendOutcome>)> done) {
    done(err(Code::unavailable, "the PostgreSQL store does not take messages yet"));
}
std::vector<InboxItem> PgStore::read_inbox(UserId, DeviceId, InboxId, std::size_t) { throw not_built(); }
void PgStore::ack(UserId, DeviceId, std::vector<MessageId>, std::int64_t, std::function<void(AckOutcome)> done) {
    done(AckOutcome{});
}
std::size_t PgStore::inbox_depth(UserId, DeviceId) { throw not_built(); }
bool PgStore::truncated(UserId, DeviceId) { throw not_built(); }
void PgStore::clear_truncated(UserId, DeviceId) { throw not_built(); }
std::vector<ConversationSummary> PgStore::conversations(UserId, std::size_t) { throw not_built(); }
std::vector<StoredMessage> PgStore::history(const std::string&, std::int64_t, std::int64_t, std::size_t) {
    throw not_built();
}
std::size_t PgStore::expire_inbox(std::int64_t, std::size_t) { throw not_built(); }
std::size_t PgStore::expire_history(std::int64_t, std::size_t) { throw not_built(); }
std::size_t PgStore::expire_dedupe(std::int64_t, std::size_t) { throw not_built(); }
std::size_t PgStore::expire_credentials(std::int64_t, std::size_t) { throw not_built(); }
void PgStore::change_group(GroupChange, std::function<void(Result<SendOutcome>)> done) {
    done(err(Code::unavailable, "the PostgreSQL store does not take group changes yet"));
}
std::optional<GroupRecord> PgStore::group(std::uint64_t) { throw not_built(); }
std::optional<Membership> PgStore::membership(const std::string&, UserId) { throw not_built(); }
std::vector<UserId> PgStore::members(const std::string&) { throw not_built(); }
std::vector<UserId> PgStore::contacts_among(UserId, const std::vector<UserId>&) { throw not_built(); }
void PgStore::mark_read(UserId, const std::string&, std::int64_t, std::int64_t,
                        std::function<void(Result<std::vector<ReceiptChange>>)> done) {
    done(err(Code::unavailable, "the PostgreSQL store does not take receipts yet"));
}
std::vector<MemberReceipt> PgStore::receipts(const std::string&) { throw not_built(); }
std::vector<MemberReceipt> PgStore::receipts_since(UserId, std::int64_t, std::size_t) { throw not_built(); }
std::int64_t PgStore::receipts_seen(UserId, DeviceId) { throw not_built(); }
void PgStore::set_receipts_seen(UserId, DeviceId, std::int64_t, std::function<void()> done) { done(); }
Result<Ok> PgStore::add_media(const MediaRecord&, std::uint64_t) {
    return err(Code::unavailable, "the PostgreSQL store does not take media yet");
}
std::optional<MediaRecord> PgStore::media(std::uint64_t) { throw not_built(); }
void PgStore::mark_verified(std::uint64_t) { throw not_built(); }
Result<Ok> PgStore::set_avatar(UserId, std::optional<std::uint64_t>, std::int64_t) {
    return err(Code::unavailable, "the PostgreSQL store does not take media yet");
}
bool PgStore::may_download(std::uint64_t, UserId) { throw not_built(); }
std::vector<MediaRecord> PgStore::expire_media(std::int64_t, std::size_t) { throw not_built(); }
std::vector<std::string> PgStore::blob_trash(std::size_t) { throw not_built(); }
void PgStore::forget_trash(const std::vector<std::string>&) { throw not_built(); }

}  // namespace natter::pg
