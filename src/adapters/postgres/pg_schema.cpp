#include "adapters/postgres/pg_schema.hpp"

#include <stdexcept>
#include <string>
#include <vector>

namespace natter::pg {

namespace {

// Ids are bigint (pg_conn.hpp, "Ids"); times are ms since the epoch.
// Migration N brings a shard from version N-1 to N. Never edit one that
// shipped: add the next.
const std::vector<const char*> kMigrations = {
    // 1: accounts, devices, credentials, conversations, messages, inboxes,
    // groups, receipts, media.
    R"sql(
CREATE TABLE users(
  user_id bigint PRIMARY KEY,
  username text NOT NULL,
  password_hash text NOT NULL,
  display_name text NOT NULL DEFAULT '',
  description text NOT NULL DEFAULT '',
  avatar_media_id bigint,
  created_at bigint NOT NULL);
-- On the shard of "name:<username>": who holds a username.
CREATE TABLE usernames(
  username text PRIMARY KEY,
  user_id bigint NOT NULL,
  claimed_at bigint NOT NULL);
CREATE TABLE devices(
  user_id bigint NOT NULL,
  device_id bigint NOT NULL,
  device_name text NOT NULL,
  generation bigint NOT NULL DEFAULT 0,
  created_at bigint NOT NULL,
  last_seen bigint NOT NULL,
  inbox_truncated boolean NOT NULL DEFAULT false,
  receipts_seen_at bigint NOT NULL DEFAULT 0,
  PRIMARY KEY(user_id, device_id));
CREATE TABLE refresh_tokens(
  token_hash text PRIMARY KEY,
  user_id bigint NOT NULL,
  device_id bigint NOT NULL,
  spent boolean NOT NULL DEFAULT false,
  expires_at bigint NOT NULL);
CREATE INDEX refresh_tokens_device ON refresh_tokens(user_id, device_id);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens(expires_at);
CREATE TABLE ws_tickets(
  ticket_hash text PRIMARY KEY,
  user_id bigint NOT NULL,
  device_id bigint NOT NULL,
  expires_at bigint NOT NULL);
CREATE INDEX ws_tickets_expiry ON ws_tickets(expires_at);
-- On the sender's shard: one claim per (sender, client_msg_id).
CREATE TABLE dedupe(
  sender bigint NOT NULL,
  client_msg_id text NOT NULL,
  payload_hash text NOT NULL,
  message_id bigint NOT NULL,
  conversation_id text NOT NULL,
  seq bigint NOT NULL DEFAULT 0,
  prev_message_id bigint NOT NULL DEFAULT 0,
  ts bigint NOT NULL DEFAULT 0,
  created_at bigint NOT NULL,
  PRIMARY KEY(sender, client_msg_id));
CREATE INDEX dedupe_age ON dedupe(created_at);
-- On the conversation's home shard.
CREATE TABLE conversations(
  conversation_id text PRIMARY KEY,
  last_seq bigint NOT NULL,
  last_message_id bigint NOT NULL,
  created_at bigint NOT NULL);
CREATE TABLE members(
  conversation_id text NOT NULL,
  user_id bigint NOT NULL,
  role text NOT NULL DEFAULT 'member',
  joined_seq bigint NOT NULL DEFAULT 0,
  delivered_seq bigint NOT NULL DEFAULT 0,
  read_seq bigint NOT NULL DEFAULT 0,
  receipt_at bigint NOT NULL DEFAULT 0,
  first_sent_seq bigint NOT NULL DEFAULT 0,
  last_sent_seq bigint NOT NULL DEFAULT 0,
  PRIMARY KEY(conversation_id, user_id));
CREATE INDEX members_user ON members(user_id);
CREATE TABLE groups(
  group_id bigint PRIMARY KEY,
  name text NOT NULL,
  created_by bigint NOT NULL,
  created_at bigint NOT NULL);
CREATE TABLE messages(
  message_id bigint PRIMARY KEY,
  conversation_id text NOT NULL,
  seq bigint NOT NULL,
  prev_message_id bigint NOT NULL,
  kind text NOT NULL,
  from_user bigint NOT NULL,
  from_device bigint NOT NULL,
  client_msg_id text NOT NULL,
  to_json text NOT NULL,
  body text,
  attachment text,
  event text,
  media_id bigint,
  ts bigint NOT NULL,
  UNIQUE(conversation_id, seq));
CREATE INDEX messages_ts ON messages(ts);
CREATE INDEX messages_media ON messages(media_id) WHERE media_id IS NOT NULL;
-- The fan-out still to do: one row per target user, in order. A target's
-- rows of one conversation are delivered in seq order.
CREATE TABLE outbox(
  message_id bigint NOT NULL,
  position integer NOT NULL,
  conversation_id text NOT NULL,
  seq bigint NOT NULL,
  target_user bigint NOT NULL,
  skip_device bigint NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY(message_id, position));
CREATE INDEX outbox_conversation ON outbox(conversation_id, seq);
-- On the recipient's shard: a whole copy of the message per device.
CREATE TABLE inbox(
  inbox_id bigserial PRIMARY KEY,
  user_id bigint NOT NULL,
  device_id bigint NOT NULL,
  message_id bigint NOT NULL,
  conversation_id text NOT NULL,
  seq bigint NOT NULL,
  prev_message_id bigint NOT NULL,
  kind text NOT NULL,
  from_user bigint NOT NULL,
  from_device bigint NOT NULL,
  client_msg_id text NOT NULL,
  to_json text NOT NULL,
  body text,
  attachment text,
  event text,
  ts bigint NOT NULL,
  created_at bigint NOT NULL,
  UNIQUE(user_id, device_id, message_id));
CREATE INDEX inbox_order ON inbox(user_id, device_id, inbox_id);
CREATE INDEX inbox_message ON inbox(message_id);
CREATE INDEX inbox_age ON inbox(created_at);
-- On the shard of "media:<id>".
CREATE TABLE media(
  media_id bigint PRIMARY KEY,
  owner bigint NOT NULL,
  mime text NOT NULL,
  size bigint NOT NULL,
  blob_key text NOT NULL,
  created_at bigint NOT NULL,
  verified boolean NOT NULL DEFAULT false,
  referenced_at bigint NOT NULL DEFAULT 0,
  avatar_of bigint);
CREATE INDEX media_unused ON media(referenced_at, created_at);
-- On the owner's shard: bytes of media kept, for the quota.
CREATE TABLE media_usage(
  owner bigint PRIMARY KEY,
  bytes bigint NOT NULL);
CREATE TABLE blob_trash(
  blob_key text PRIMARY KEY,
  queued_at bigint NOT NULL);
)sql",
    // 2: on the user's shard, which messages were fanned out to the user: a
    // fan-out done again (its outbox row outlived a lost answer) must not
    // bring back inbox rows the user's devices have acked since.
    R"sql(
CREATE TABLE fanned_out(
  user_id bigint NOT NULL,
  message_id bigint NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY(user_id, message_id));
CREATE INDEX fanned_out_age ON fanned_out(created_at);
)sql",
    // 3: account deletion. On the user's shard, a tombstone; it keeps the
    // username only until the deletion finished (the name's shard is told
    // last but one). Media by owner, on every media shard, to delete them.
    R"sql(
CREATE TABLE deleted_users(
  user_id bigint PRIMARY KEY,
  username text NOT NULL,
  deleted_at bigint NOT NULL,
  finished boolean NOT NULL DEFAULT false);
CREATE INDEX deleted_users_unfinished ON deleted_users(user_id) WHERE NOT finished;
CREATE INDEX media_owner ON media(owner);
)sql",
};

// Any constant: the lock natterd nodes take while migrating one shard.
constexpr const char* kLockKey = "7411823365912";

}  // namespace

int schema_version() { return static_cast<int>(kMigrations.size()); }

void migrate(Connection& conn) {
    conn.exec(std::string("SELECT pg_advisory_lock(") + kLockKey + ")");
    try {
        conn.script("CREATE TABLE IF NOT EXISTS schema_migrations(version integer PRIMARY KEY, applied_at bigint NOT NULL)");
        auto rows = conn.exec("SELECT coalesce(max(version), 0) FROM schema_migrations");
        int have = static_cast<int>(rows.i64(0, 0));
        if (have > schema_version())
            throw std::runtime_error("the shard has schema version " + std::to_string(have) + ", this natterd knows " +
                                     std::to_string(schema_version()) + ": run a natterd at least as new");
        for (int v = have + 1; v <= schema_version(); ++v) {
            conn.transaction([&](Connection& c) {
                c.script(kMigrations[v - 1]);
                c.exec("INSERT INTO schema_migrations(version, applied_at) "
                       "VALUES($1, (extract(epoch from clock_timestamp()) * 1000)::bigint)",
                       {Param::i64(v)});
                return 0;
            });
        }
    } catch (...) {
        try {
            conn.exec(std::string("SELECT pg_advisory_unlock(") + kLockKey + ")");
        } catch (...) {
        }
        throw;
    }
    conn.exec(std::string("SELECT pg_advisory_unlock(") + kLockKey + ")");
}

}  // namespace natter::pg
