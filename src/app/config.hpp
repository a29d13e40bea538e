#pragma once
// natterd's configuration: defaults, then an optional TOML file (one section
// per concern, `adapter` selectors for the store and the bus), then NATTER_*
// environment variables, then flags. Every setting has one name in each:
// `[limits] send_rate` = `NATTER_LIMITS_SEND_RATE` = `--send-rate`.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "adapters/s3/sigv4.hpp"
#include "chat/password_hasher.hpp"
#include "chat/media.hpp"
#include "chat/retention.hpp"
#include "core/hash_ring.hpp"
#include "core/limits.hpp"

namespace natter {

// [s3]: the bucket of blobs.adapter = "s3".
struct S3Settings {
    std::string endpoint;  // scheme, host and port only: "https://s3.eu-central-1.amazonaws.com", "http://127.0.0.1:9000"
    std::string bucket;
    std::string region = "us-east-1";
    std::string access_key_id;
    std::string secret_access_key;  // secret
    std::string session_token;      // secret; only for temporary credentials
    bool path_style = true;         // endpoint/bucket/key; false: bucket.endpoint-host/key (AWS's default)
    bool no_overwrite = true;       // upload URLs sign If-None-Match: *, so an object cannot be replaced
    std::string ca_file;            // PEM CAs to trust for an https endpoint; "": the system's
};

// One PostgreSQL shard, `NAME=CONNINFO` in the settings. The name is its
// identity on the ring (docs/SCALE.md): keep it when the shard moves host.
struct PgShardSetting {
    std::string name;      // pg-1: letters, digits, '.', '_', '-'
    std::string conninfo;  // libpq: "host=10.0.0.1 port=5432 dbname=natter" or "postgresql://…"
};

// [postgres]: the shards of store.adapter = "postgres".
struct PostgresSettings {
    std::vector<PgShardSetting> shards;
    std::size_t vnodes = HashRing::kDefaultVnodes;  // points per shard; chosen once per cluster
    std::size_t pool_size = 12;                     // connections per shard (sends, acks and HTTP work share them)
    std::size_t workers = 4;                        // threads running sends and acks
};

// One Redis instance of the bus and presence, `NAME=HOST:PORT`; the name is
// its place on the ring that spreads channels and keys over the instances.
struct RedisInstanceSetting {
    std::string name;
    std::string host;
    std::uint16_t port = 6379;
};

// [redis]: the instances of bus.adapter / presence.adapter = "redis".
struct RedisSettings {
    std::vector<RedisInstanceSetting> instances;
    std::string password;  // secret; "" for none
};

// [tls]: natterd's own HTTPS and WSS. Both files or neither (plain HTTP,
// or TLS ended by a proxy in front); read once at start: a renewed
// certificate takes a restart.
struct TlsSettings {
    std::string cert_file;  // PEM: the certificate, then its chain
    std::string key_file;   // PEM: its private key (readable by natterd alone)
    // Not a setting: the HTTP read timeout, shortened by tests.
    std::int64_t handshake_timeout_ms = 30000;
    bool enabled() const { return !cert_file.empty(); }
};

struct Config {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8080;
    std::string data_dir = "./data";
    std::size_t io_threads = 0;        // 0: one per core
    std::size_t blocking_threads = 8;  // HTTP work (argon2, account writes); inbox reads get half as many more
    std::int64_t drain_grace_s = 5;    // SIGTERM: seconds not-ready before sockets close with 1012
    std::string allowed_origins;       // comma-separated browser origins allowed to open a WebSocket, besides the server's own
    std::string trusted_proxies;       // comma-separated addresses/ranges whose X-Forwarded-For names the client
    TlsSettings tls;
    std::string store_adapter = "sqlite";
    std::string bus_adapter = "local";
    std::string presence_adapter = "local";
    RedisSettings redis;
    bool sqlite_sync_full = true;
    PostgresSettings postgres;
    std::optional<std::uint32_t> node_id;  // default (SQLite only): generated once, kept in the store
    std::string token_key;                 // default: token_key_file, else generated once into DATA/token.key
    std::string token_key_file;            // the key's file, shared by a cluster's nodes
    std::string log_level = "info";
    std::string log_format = "json";  // json | text
    Limits limits;
    RetentionPolicy retention;
    MediaPolicy media;
    std::string media_allowed = "image/jpeg,image/png,image/webp,image/gif";  // into media.allowed
    std::string web_root = "web/dist";  // the web client's built files; "" or missing: not served
    std::string blobs_adapter = "local";
    std::string blobs_public_url;  // local: prefix of the blob URLs handed out; "": a path on this server
    S3Settings s3;
    bool sweeper = true;  // run the retention sweeper every retention.sweep_interval_s
    PasswordCost password_cost;
};

// `natterd admin seed-users`: users and devices written straight into the
// store, with access tokens minted by the node's key, for load tests.
struct SeedUsers {
    std::size_t count = 0;
    std::string prefix = "user";
    std::int64_t token_ttl_s = 24 * 3600;
};

// What `natterd [flags]` asked for.
struct Invocation {
    Config config;
    bool print_config = false;
    std::optional<SeedUsers> seed_users;
    int exit_code = -1;  // >= 0: exit now with it (--help, or a bad setting, already reported)
};

// Parses flags, the file named by --config and the environment. Errors are
// printed to stderr with what to fix, and set exit_code 2.
Invocation load_config(int argc, char** argv, char** envp);

// The accepted image types of a media.allowed list; empty when it names
// anything else (natterd checks the bytes, and knows only these).
std::vector<std::string> media_types(const std::string& list);

// The effective configuration as TOML, secrets redacted.
std::string config_to_toml(const Config& c);

// One `NAME=CONNINFO` entry of postgres.shards; an error message or "".
std::string parse_pg_shard(const std::string& entry, PgShardSetting& out);
std::string show_pg_shard(const PgShardSetting& s);
// One `NAME=HOST:PORT` entry of redis.instances; an error message or "".
std::string parse_redis_instance(const std::string& entry, RedisInstanceSetting& out);
std::string show_redis_instance(const RedisInstanceSetting& r);

// The [s3] settings as the signer takes them.
s3::Bucket s3_bucket(const S3Settings& s);
s3::Credentials s3_credentials(const S3Settings& s);

// The [tls] files: both or neither, readable, PEM, the key the
// certificate's. Empty when fine, else what to fix.
std::string check_tls(const TlsSettings& t);

// Checks settings that depend on each other; empty when fine.
std::string check_config(const Config& c);

}  // namespace natter
