#include "app/config.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <functional>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <libpq-fe.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <toml++/toml.h>

#include "core/address.hpp"

namespace natter {

namespace {

// One setting, reachable from the file, the environment and a flag.
struct Setting {
    std::string section, key, flag, help;
    std::function<std::string(const std::string&)> set;  // from text; an error message or ""
    std::function<std::string()> show;                   // as a TOML value
    // A list (postgres.shards): a TOML array of strings in the file, one
    // variable with ';' between entries in the environment, a flag given
    // once per entry. `set` is the environment's form.
    std::function<std::string(const std::vector<std::string>&)> set_list;
    bool secret = false;
    std::string env() const {
        std::string e = "NATTER_" + section + "_" + key;
        for (auto& ch : e) ch = ch == '.' ? '_' : char(std::toupper(static_cast<unsigned char>(ch)));
        return e;
    }
    std::string name() const { return section + "." + key; }
};

template <class T>
std::string parse_number(const std::string& text, T& out) {
    T v{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return "must be a number";
    if constexpr (std::is_signed_v<T>)
        if (v < T(0)) return "must not be negative";
    out = v;
    return "";
}

template <class T>
Setting number(std::string section, std::string key, std::string flag, std::string help, T& target) {
    Setting s{std::move(section), std::move(key), std::move(flag), std::move(help), {}, {}, {}};
    s.set = [&target](const std::string& t) { return parse_number(t, target); };
    s.show = [&target] {
        std::ostringstream o;
        o << target;
        return o.str();
    };
    return s;
}

Setting text(std::string section, std::string key, std::string flag, std::string help, std::string& target,
             std::vector<std::string> allowed = {}) {
    Setting s{std::move(section), std::move(key), std::move(flag), std::move(help), {}, {}, {}};
    s.set = [&target, allowed](const std::string& t) -> std::string {
        if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), t) == allowed.end()) {
            std::string list;
            for (const auto& a : allowed) list += (list.empty() ? "\"" : ", \"") + a + "\"";
            return "must be one of " + list;
        }
        target = t;
        return "";
    };
    s.show = [&target] {
        std::ostringstream o;
        o << toml::value<std::string>(target);  // quoted and escaped as TOML
        return o.str();
    };
    return s;
}

Setting boolean(std::string section, std::string key, std::string flag, std::string help, bool& target) {
    Setting s{std::move(section), std::move(key), std::move(flag), std::move(help), {}, {}, {}};
    s.set = [&target](const std::string& t) -> std::string {
        if (t != "true" && t != "false") return "must be true or false";
        target = t == "true";
        return "";
    };
    s.show = [&target] { return std::string(target ? "true" : "false"); };
    return s;
}

std::string trimmed(const std::string& s) {
    auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

// libpq's parse of a connection string: its keywords and values, or its
// complaint. Nothing connects.
struct ConnInfo {
    std::vector<std::pair<std::string, std::string>> options;  // the ones given, libpq's order
    std::string error;
};

ConnInfo parse_conninfo(const std::string& conninfo) {
    ConnInfo out;
    char* errmsg = nullptr;
    PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &errmsg);
    if (!opts) {
        out.error = errmsg ? trimmed(errmsg) : "not a connection string";
        if (errmsg) PQfreemem(errmsg);
        return out;
    }
    for (auto* o = opts; o->keyword; ++o)
        if (o->val) out.options.emplace_back(o->keyword, o->val);
    PQconninfoFree(opts);
    return out;
}

bool is_conninfo_keyword(const std::string& word) {
    static const std::vector<std::string> keywords = [] {
        std::vector<std::string> k;
        if (PQconninfoOption* d = PQconndefaults()) {
            for (auto* o = d; o->keyword; ++o) k.emplace_back(o->keyword);
            PQconninfoFree(d);
        }
        return k;
    }();
    return std::find(keywords.begin(), keywords.end(), word) != keywords.end();
}

// The connection string as --print-config shows it: as given, unless it
// holds a password, which is replaced (the string is then rebuilt from
// libpq's parse, in keyword='value' form).
std::string redacted_conninfo(const std::string& conninfo) {
    auto parsed = parse_conninfo(conninfo);
    bool secret = std::any_of(parsed.options.begin(), parsed.options.end(),
                              [](const auto& o) { return o.first == "password" && !o.second.empty(); });
    if (!parsed.error.empty() || !secret) return conninfo;
    std::string out;
    for (const auto& [key, value] : parsed.options) {
        std::string v = key == "password" ? "<redacted>" : value, quoted;
        for (char ch : v) {
            if (ch == '\'' || ch == '\\') quoted += '\\';
            quoted += ch;
        }
        out += (out.empty() ? "" : " ") + key + "='" + quoted + "'";
    }
    return out;
}

// A list of NAME=… entries (postgres.shards, redis.instances), each parsed
// by `parse` and shown by `show_one`.
template <class T>
Setting named_list(std::string section, std::string key, std::string flag, std::string help, std::vector<T>& target,
                   std::string (*parse)(const std::string&, T&), std::string (*show_one)(const T&)) {
    Setting s{std::move(section), std::move(key), std::move(flag), std::move(help), {}, {}, {}};
    s.set_list = [&target, parse](const std::vector<std::string>& entries) -> std::string {
        std::vector<T> parsed;
        for (std::size_t i = 0; i < entries.size(); ++i) {
            T one;
            if (auto e = parse(entries[i], one); !e.empty()) return "entry " + std::to_string(i + 1) + ": " + e;
            parsed.push_back(std::move(one));
        }
        target = std::move(parsed);
        return "";
    };
    s.set = [set_list = s.set_list](const std::string& text) {
        std::vector<std::string> entries;
        std::string entry;
        std::istringstream in(text);
        while (std::getline(in, entry, ';'))
            if (!trimmed(entry).empty()) entries.push_back(entry);
        return set_list(entries);
    };
    s.show = [&target, show_one] {
        toml::array a;
        for (const auto& one : target) a.push_back(show_one(one));
        std::ostringstream o;
        o << a;
        return o.str();
    };
    return s;
}

std::vector<Setting> settings(Config& c, std::string& listen, std::string& sync, std::string& node) {
    auto& l = c.limits;
    auto& r = c.retention;
    std::vector<Setting> v = {
        text("server", "listen", "--listen", "HOST:PORT to serve on (port 0: any free port)", listen),
        text("server", "data", "--data", "data directory: natter.db, token.key, blobs/ (local image bytes)", c.data_dir),
        number("server", "threads", "--threads", "I/O threads (0: one per core)", c.io_threads),
        number("server", "blocking_threads", "--blocking-threads", "threads for HTTP work (password hashing, account writes); inbox reads get half as many more", c.blocking_threads),
        text("server", "node_id", "--node-id", "node id in message ids, 0..1023 (\"\": generated once, kept in the store)", node),
        text("server", "allowed_origins", "--allowed-origins", "browser origins, comma-separated, whose pages may open a WebSocket besides natterd's own (https://app.example.com,http://localhost:5173); a socket without an Origin (not a browser) is always allowed", c.allowed_origins),
        text("server", "trusted_proxies", "--trusted-proxies", "addresses or prefixes, comma-separated (10.0.0.0/8,::1), of proxies in front of natterd: a request from one is counted under the last address of its X-Forwarded-For, and its connections are not counted per address", c.trusted_proxies),
        number("server", "drain_grace", "--drain-grace", "SIGTERM: seconds reported not ready before sockets close with 1012", c.drain_grace_s),
        text("tls", "cert_file", "--tls-cert", "serve HTTPS and WSS only, with this PEM certificate (its chain after it); with tls.key_file (\"\": plain HTTP)", c.tls.cert_file),
        text("tls", "key_file", "--tls-key", "the PEM private key of tls.cert_file", c.tls.key_file),
        text("store", "adapter", "--store", "message store: \"sqlite\" (one file in the data directory) or \"postgres\" (PostgreSQL shards, [postgres]; needs server.node_id)", c.store_adapter, {"sqlite", "postgres"}),
        text("sqlite", "synchronous", "--sqlite-synchronous", "\"full\": fsync every commit; \"normal\": at checkpoints (a power cut may lose the last commits)", sync, {"full", "normal"}),
        named_list("postgres", "shards", "--postgres-shard", "PostgreSQL store: one shard, NAME=CONNINFO (pg-1=host=10.0.0.1 port=5432 dbname=natter); give the flag once per shard; the file takes an array of such strings, the environment one variable with ';' between them", c.postgres.shards, &parse_pg_shard, &show_pg_shard),
        number("postgres", "vnodes", "--postgres-vnodes", "PostgreSQL store: points per shard on the ring, 1..4096 (chosen once per cluster: changing it moves data)", c.postgres.vnodes),
        number("postgres", "pool_size", "--postgres-pool-size", "PostgreSQL store: connections per shard", c.postgres.pool_size),
        number("postgres", "workers", "--postgres-workers", "PostgreSQL store: threads running sends and acks (one conversation's sends and one user's acks stay in order on one)", c.postgres.workers),
        text("bus", "adapter", "--bus", "fan-out bus: \"local\" (in this process) or \"redis\" (cluster mode: Redis pub/sub over [redis] instances; needs store postgres, presence redis, blobs s3, server.node_id and a shared auth.token_key)", c.bus_adapter, {"local", "redis"}),
        text("presence", "adapter", "--presence", "who is online: \"local\" (in this process) or \"redis\" (keys with a TTL on [redis] instances)", c.presence_adapter, {"local", "redis"}),
        named_list("redis", "instances", "--redis-instance", "Redis bus and presence: one instance, NAME=HOST:PORT (redis-1=10.0.0.5:6379); the name is its place on the ring; give the flag once per instance; the environment takes one variable with ';' between them", c.redis.instances, &parse_redis_instance, &show_redis_instance),
        text("redis", "password", "--redis-password", "Redis AUTH password (\"\": none)", c.redis.password),
        text("web", "root", "--web-root", "directory of the web client's built files, served at / (\"\" or missing: not served)", c.web_root),
        text("blobs", "adapter", "--blobs", "where image bytes go: \"local\" (files under DATA/blobs served by natterd) or \"s3\" (a bucket of an S3-compatible store, [s3])", c.blobs_adapter, {"local", "s3"}),
        text("blobs", "public_url", "--blobs-public-url", "local blobs: prefix of the URLs handed out, e.g. https://chat.example.com (\"\": a path on this server)", c.blobs_public_url),
        text("s3", "endpoint", "--s3-endpoint", "S3 blobs: the store's URL, scheme, host and port only (https://s3.eu-central-1.amazonaws.com, http://127.0.0.1:9000)", c.s3.endpoint),
        text("s3", "bucket", "--s3-bucket", "S3 blobs: the bucket", c.s3.bucket),
        text("s3", "region", "--s3-region", "S3 blobs: the bucket's region (MinIO: us-east-1 unless set; R2: auto)", c.s3.region),
        text("s3", "access_key_id", "--s3-access-key-id", "S3 blobs: the access key id", c.s3.access_key_id),
        text("s3", "secret_access_key", "--s3-secret-access-key", "S3 blobs: the secret access key (prefer the file or the environment to a flag)", c.s3.secret_access_key),
        text("s3", "session_token", "--s3-session-token", "S3 blobs: the session token of temporary credentials", c.s3.session_token),
        boolean("s3", "path_style", "--s3-path-style", "S3 blobs: URLs endpoint/bucket/key (true: MinIO, anything on an IP) or bucket.host/key (false: AWS)", c.s3.path_style),
        boolean("s3", "no_overwrite", "--s3-no-overwrite", "S3 blobs: upload URLs sign If-None-Match: * so an upload cannot be replaced (false for a store that answers 501)", c.s3.no_overwrite),
        text("s3", "ca_file", "--s3-ca-file", "S3 blobs: PEM file of the CAs to trust for an https endpoint (\"\": the system's)", c.s3.ca_file),
        text("media", "allowed", "--media-allowed", "image types accepted, comma-separated (of image/jpeg, image/png, image/webp, image/gif)", c.media_allowed),
        number("media", "max_bytes", "--media-max-bytes", "bytes per upload", c.media.max_bytes),
        number("media", "quota_bytes", "--media-quota-bytes", "bytes of media kept per user", c.media.quota_bytes),
        number("media", "uploads_per_min", "--media-uploads-per-min", "uploads per user per minute (and the burst)", c.media.uploads_per_min),
        number("media", "unused_grace", "--media-unused-grace", "seconds an upload no message or avatar uses is kept", c.media.unused_grace_s),
        text("auth", "token_key", "--token-key", "access-token key, 32+ bytes (\"\": auth.token_key_file, else generated once into DATA/token.key)", c.token_key),
        text("auth", "token_key_file", "--token-key-file", "file holding the access-token key (first line, 32+ bytes): the same on every node of a cluster", c.token_key_file),
        number("auth", "argon2_memory_kib", "--argon2-memory-kib", "argon2id memory per password hash", c.password_cost.memory_kib),
        number("auth", "argon2_time_cost", "--argon2-time-cost", "argon2id iterations", c.password_cost.time_cost),
        text("log", "level", "--log-level", "log level", c.log_level, {"trace", "debug", "info", "warn", "error"}),
        text("log", "format", "--log-format", "log lines as JSON objects or text", c.log_format, {"json", "text"}),
        number("limits", "max_frame_bytes", "--max-frame-bytes", "largest WebSocket frame; larger closes 1009", l.max_frame_bytes),
        number("limits", "max_http_body_bytes", "--max-http-body-bytes", "largest HTTP body; larger gets 413", l.max_http_body_bytes),
        number("limits", "max_body_chars", "--max-body-chars", "code points in a message body", l.max_body_chars),
        number("limits", "max_devices", "--max-devices", "devices per user", l.max_devices),
        number("limits", "push_window", "--push-window", "unacked pushes per socket", l.push_window),
        number("limits", "outbound_queue_bytes", "--outbound-queue-bytes", "queued bytes per socket; more closes 4008", l.outbound_queue_bytes),
        number("limits", "max_ack_ids", "--max-ack-ids", "message ids in one ack frame", l.max_ack_ids),
        number("limits", "send_rate", "--send-rate", "sends per user per second", l.send_rate_per_s),
        number("limits", "send_burst", "--send-burst", "burst of sends per user", l.send_burst),
        number("limits", "frame_rate", "--frame-rate", "frames per socket per second", l.frame_rate_per_s),
        number("limits", "frame_burst", "--frame-burst", "burst of frames per socket; past it closes 1008", l.frame_burst),
        number("limits", "login_rate", "--login-rate", "sign-in attempts per username per second", l.login_rate_per_s),
        number("limits", "login_burst", "--login-burst", "burst of sign-in attempts per username", l.login_burst),
        number("limits", "login_rate_per_address", "--login-rate-per-address", "sign-ins and registrations per client address (IPv6: per /64) per second", l.login_rate_per_address_per_s),
        number("limits", "login_burst_per_address", "--login-burst-per-address", "burst of sign-ins and registrations per client address", l.login_burst_per_address),
        number("limits", "access_ttl", "--access-ttl", "access token lifetime, seconds", l.access_ttl_s),
        number("limits", "refresh_ttl", "--refresh-ttl", "refresh token lifetime, seconds", l.refresh_ttl_s),
        number("limits", "ticket_ttl", "--ticket-ttl", "WebSocket ticket lifetime, seconds", l.ticket_ttl_s),
        number("limits", "max_connections", "--max-connections", "WebSockets per process; more get 503", l.max_connections),
        number("limits", "max_connections_per_address", "--max-connections-per-address", "open TCP connections (HTTP and WebSocket) per client IPv4 address or IPv6 /64; more are answered 429 and closed (0: no limit)", l.max_connections_per_address),
        text("limits", "per_address_exempt", "--per-address-exempt", "addresses and prefixes, comma-separated, that max_connections_per_address does not count: loopback, and a proxy in front of natterd (10.0.0.2,192.168.0.0/24)", l.per_address_exempt),
        number("limits", "http_timeout_ms", "--http-timeout-ms", "ms to read a whole request (the first byte included) or write an answer, and idle between keep-alive requests", l.http_timeout_ms),
        number("limits", "max_pending_requests", "--max-pending-requests", "HTTP requests waiting for a worker; more get 503", l.max_pending_requests),
        number("limits", "max_pending_writes", "--max-pending-writes", "sends waiting for the store; more get unavailable", l.max_pending_writes),
        number("limits", "max_group_members", "--max-group-members", "members per group, the creator included", l.max_group_members),
        number("limits", "group_changes_per_min", "--group-changes-per-min", "group creates, adds and removes per user per minute (and the burst)", l.group_changes_per_min),
        number("limits", "max_group_name_chars", "--max-group-name-chars", "code points in a group's name", l.max_group_name_chars),
        number("limits", "max_presence_users", "--max-presence-users", "users one socket may watch", l.max_presence_users),
        number("limits", "presence_ttl_ms", "--presence-ttl-ms", "ms of silence after which a socket is closed and its user offline", l.presence_ttl_ms),
        number("limits", "max_sync_receipts", "--max-sync-receipts", "changed member watermarks a device catches up on per sync (up to 2 receipt frames each)", l.max_sync_receipts),
        number("retention", "history", "--history-retention", "seconds history is kept; 0: none beyond delivery", r.history_s),
        number("retention", "inbox", "--inbox-retention", "seconds an undelivered inbox row is kept", r.inbox_s),
        number("retention", "sweep_interval", "--sweep-interval", "seconds between retention sweeps", r.sweep_interval_s),
    };
    for (auto& s : v)
        if (s.name() == "auth.token_key" || s.name() == "s3.secret_access_key" || s.name() == "s3.session_token" ||
            s.name() == "redis.password")
            s.secret = true;
    return v;
}

// A TOML value as the text a flag would carry.
std::optional<std::string> as_text(const toml::node& n) {
    if (auto s = n.value<std::string>()) return *s;
    if (auto i = n.value_exact<std::int64_t>()) return std::to_string(*i);
    if (auto d = n.value_exact<double>()) {
        std::ostringstream o;
        o << *d;
        return o.str();
    }
    if (auto b = n.value_exact<bool>()) return *b ? "true" : "false";
    return std::nullopt;
}

std::string apply_file(const std::string& path, std::vector<Setting>& all) {
    toml::table table;
    try {
        table = toml::parse_file(path);
    } catch (const toml::parse_error& e) {
        std::ostringstream o;
        o << path << ":" << e.source().begin.line << ":" << e.source().begin.column << ": " << e.description();
        return o.str();
    }
    for (auto& [section, node] : table) {
        auto* t = node.as_table();
        if (!t) return path + ": [" + std::string(section.str()) + "] must be a table";
        for (auto& [key, value] : *t) {
            std::string name = std::string(section.str()) + "." + std::string(key.str());
            auto it = std::find_if(all.begin(), all.end(), [&](const Setting& s) { return s.name() == name; });
            if (it == all.end()) return path + ": unknown setting " + name + " (natterd --help lists them)";
            if (it->set_list) {
                auto* array = value.as_array();
                std::vector<std::string> entries;
                if (array)
                    for (auto& item : *array) {
                        auto s = item.value_exact<std::string>();
                        if (!s) { array = nullptr; break; }
                        entries.push_back(*s);
                    }
                if (!array) return path + ": " + name + " must be an array of strings, like [\"pg-1=host=10.0.0.1 port=5432 dbname=natter\"]";
                if (auto e = it->set_list(entries); !e.empty()) return path + ": " + name + " " + e;
                continue;
            }
            auto text = as_text(value);
            if (!text) return path + ": " + name + " must be a string or a number";
            if (auto e = it->set(*text); !e.empty()) return path + ": " + name + " " + e;
        }
    }
    return "";
}

std::string apply_env(char** envp, std::vector<Setting>& all) {
    for (char** e = envp; e && *e; ++e) {
        std::string kv = *e;
        if (kv.rfind("NATTER_", 0) != 0) continue;
        auto eq = kv.find('=');
        std::string name = kv.substr(0, eq), value = eq == std::string::npos ? "" : kv.substr(eq + 1);
        if (name == "NATTER_CONFIG") continue;
        auto it = std::find_if(all.begin(), all.end(), [&](const Setting& s) { return s.env() == name; });
        if (it == all.end()) {
            // Only a misspelt setting of a known section is an error; other
            // NATTER_* variables (the natter client's, say) are not ours.
            bool ours = std::any_of(all.begin(), all.end(), [&](const Setting& s) {
                auto prefix = s.env().substr(0, 7 + s.section.size() + 1);
                return name.rfind(prefix, 0) == 0;
            });
            if (ours) return "unknown environment variable " + name + " (natterd --help lists the settings)";
            continue;
        }
        if (auto err = it->set(value); !err.empty()) return name + " " + err;
    }
    return "";
}

bool parse_listen(const std::string& s, Config& c) {
    auto colon = s.rfind(':');
    if (colon == std::string::npos || colon == 0) return false;
    unsigned port = 0;
    auto p = s.substr(colon + 1);
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
    if (p.empty() || ec != std::errc() || end != p.data() + p.size() || port > 65535) return false;
    c.host = s.substr(0, colon);
    c.port = std::uint16_t(port);
    return true;
}

}  // namespace

std::vector<std::string> media_types(const std::string& list) {
    static const std::vector<std::string> known = {"image/jpeg", "image/png", "image/webp", "image/gif"};
    std::vector<std::string> out;
    std::string item;
    std::istringstream in(list);
    while (std::getline(in, item, ',')) {
        item.erase(0, item.find_first_not_of(' '));
        item.erase(item.find_last_not_of(' ') + 1);
        if (std::find(known.begin(), known.end(), item) == known.end()) return {};
        if (std::find(out.begin(), out.end(), item) == out.end()) out.push_back(item);
    }
    return out;
}

s3::Bucket s3_bucket(const S3Settings& s) {
    return s3::Bucket{s.endpoint, s.region, s.bucket, s.path_style ? s3::UrlStyle::path : s3::UrlStyle::virtual_host};
}

s3::Credentials s3_credentials(const S3Settings& s) {
    return s3::Credentials{s.access_key_id, s.secret_access_key, s.session_token};
}

namespace {
std::string check_s3(const S3Settings& s) {
    const std::string with = " when blobs.adapter is \"s3\"";
    if (s.endpoint.empty())
        return "s3.endpoint is needed" + with + " (like https://s3.eu-central-1.amazonaws.com or http://127.0.0.1:9000)";
    if (s.bucket.empty()) return "s3.bucket is needed" + with;
    if (s.access_key_id.empty() || s.secret_access_key.empty())
        return "s3.access_key_id and s3.secret_access_key are needed" + with;
    if (auto why = s3::check_bucket(s3_bucket(s)); !why.empty()) return "s3: " + why;
    // Signing anything checks the credentials' form.
    auto probe = s3::presign(s3_bucket(s), s3_credentials(s), s3::Request{"GET", "k", {}, {}}, 0, 1);
    if (!probe) return "s3: " + probe.error().message;
    return "";
}
}  // namespace

namespace {
bool ring_name_ok(const std::string& name) {
    return !name.empty() && name.size() <= 63 && std::all_of(name.begin(), name.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.';
    });
}
}  // namespace

std::string show_pg_shard(const PgShardSetting& s) { return s.name + "=" + redacted_conninfo(s.conninfo); }

std::string show_redis_instance(const RedisInstanceSetting& r) {
    return r.name + "=" + r.host + ":" + std::to_string(r.port);
}

std::string parse_redis_instance(const std::string& entry, RedisInstanceSetting& out) {
    const std::string like = "NAME=HOST:PORT, like redis-1=10.0.0.5:6379";
    auto text = trimmed(entry);
    auto eq = text.find('=');
    if (eq == std::string::npos) return "must be " + like;
    auto name = trimmed(text.substr(0, eq)), addr = trimmed(text.substr(eq + 1));
    if (!ring_name_ok(name))
        return "the instance name \"" + name + "\" must be 1 to 63 letters, digits, '.', '_' or '-' (" + like + ")";
    auto colon = addr.rfind(':');
    if (colon == std::string::npos || colon == 0) return "instance \"" + name + "\": \"" + addr + "\" must be HOST:PORT";
    std::uint64_t port = 0;
    if (!parse_number(addr.substr(colon + 1), port).empty() || port < 1 || port > 65535)
        return "instance \"" + name + "\": the port of \"" + addr + "\" must be 1..65535";
    out = RedisInstanceSetting{name, addr.substr(0, colon), std::uint16_t(port)};
    return "";
}

std::string parse_pg_shard(const std::string& entry, PgShardSetting& out) {
    const std::string like = "NAME=CONNINFO, like pg-1=host=10.0.0.1 port=5432 dbname=natter";
    auto text = trimmed(entry);
    auto eq = text.find('=');
    if (eq == std::string::npos) return "must be " + like;
    auto name = trimmed(text.substr(0, eq)), conninfo = trimmed(text.substr(eq + 1));
    if (is_conninfo_keyword(name))
        return "starts with the connection keyword \"" + name + "\" where the shard's name goes: write " + like;
    if (!ring_name_ok(name))
        return "the shard name \"" + name + "\" must be 1 to 63 letters, digits, '.', '_' or '-' (" + like + ")";
    if (conninfo.empty()) return "shard \"" + name + "\" has no connection string: write " + like;
    if (auto parsed = parse_conninfo(conninfo); !parsed.error.empty())
        return "shard \"" + name + "\": its connection string does not parse: " + parsed.error;
    out = PgShardSetting{name, conninfo};
    return "";
}

namespace {
std::string check_postgres(const Config& c) {
    const auto& p = c.postgres;
    const std::string with = " when store.adapter is \"postgres\"";
    if (p.shards.empty())
        return "postgres.shards is needed" + with +
               ": one NAME=CONNINFO per shard, like pg-1=host=10.0.0.1 port=5432 dbname=natter";
    for (std::size_t i = 0; i < p.shards.size(); ++i) {
        PgShardSetting again;
        if (auto e = parse_pg_shard(p.shards[i].name + "=" + p.shards[i].conninfo, again); !e.empty())
            return "postgres.shards entry " + std::to_string(i + 1) + ": " + e;
        for (std::size_t j = 0; j < i; ++j)
            if (p.shards[j].name == p.shards[i].name)
                return "postgres.shards names \"" + p.shards[i].name +
                       "\" twice: a shard's name is its place on the ring, each must be unique";
    }
    if (p.vnodes < 1 || p.vnodes > 4096) return "postgres.vnodes must be 1..4096";
    if (p.pool_size < 1 || p.pool_size > 1000) return "postgres.pool_size must be 1..1000";
    if (p.workers < 1 || p.workers > 1000) return "postgres.workers must be 1..1000";
    if (!c.node_id)
        return "server.node_id must be set" + with +
               " (0..1023, a different one for each natterd on the same shards: message ids carry it, "
               "and there is no local store to keep a generated one)";
    return "";
}
}  // namespace

namespace {
std::string check_cluster(const Config& c) {
    bool redis = c.bus_adapter == "redis" || c.presence_adapter == "redis";
    if (!redis) return "";
    if (c.redis.instances.empty())
        return "redis.instances is needed with bus or presence \"redis\": one NAME=HOST:PORT per instance, like "
               "redis-1=10.0.0.5:6379";
    for (std::size_t i = 0; i < c.redis.instances.size(); ++i)
        for (std::size_t j = 0; j < i; ++j)
            if (c.redis.instances[j].name == c.redis.instances[i].name)
                return "redis.instances names \"" + c.redis.instances[i].name +
                       "\" twice: an instance's name is its place on the ring, each must be unique";
    if (c.bus_adapter != "redis") return "";
    // Cluster mode: every node must see the same data and trust the same tokens.
    const std::string why = " with bus.adapter = \"redis\" (cluster mode: ";
    if (c.presence_adapter != "redis") return "presence.adapter must be \"redis\"" + why + "every node must see who is online)";
    if (c.store_adapter != "postgres")
        return "store.adapter must be \"postgres\"" + why + "a SQLite file belongs to one node)";
    if (c.blobs_adapter != "s3") return "blobs.adapter must be \"s3\"" + why + "local blobs would stay on the node that took them)";
    if (c.token_key.empty() && c.token_key_file.empty())
        return "auth.token_key_file (or auth.token_key) must be set" + why +
               "every node must accept every node's tokens; a generated key would differ per node)";
    return "";
}
}  // namespace

namespace {
// OpenSSL's reason for the failure (its first error: the cause), as it reads after a colon.
std::string openssl_reason() {
    unsigned long e = ERR_peek_error();
    std::string why = e ? ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "unknown error" : "unknown error";
    ERR_clear_error();
    return why;
}

std::string unreadable(const std::string& name, const std::string& path) {
    std::ifstream in(path);
    if (in && in.peek() != std::ifstream::traits_type::eof()) return "";
    return name + " \"" + path + "\" cannot be read" + (in ? " (it is empty)" : std::string(": ") + std::strerror(errno));
}
}  // namespace

std::string check_tls(const TlsSettings& t) {
    if (t.cert_file.empty() != t.key_file.empty())
        return "tls.cert_file and tls.key_file go together: set both (natterd serves HTTPS and WSS) or neither "
               "(plain HTTP, or TLS ended by a proxy in front)";
    if (!t.enabled()) return "";
    if (auto why = unreadable("tls.cert_file", t.cert_file); !why.empty()) return why;
    if (auto why = unreadable("tls.key_file", t.key_file); !why.empty()) return why;
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()), &SSL_CTX_free);
    if (!ctx) return "tls: OpenSSL cannot start: " + openssl_reason();
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), t.cert_file.c_str()) != 1)
        return "tls.cert_file \"" + t.cert_file + "\" is not a usable PEM certificate (then its chain): " + openssl_reason();
    bool loaded = SSL_CTX_use_PrivateKey_file(ctx.get(), t.key_file.c_str(), SSL_FILETYPE_PEM) == 1;
    // OpenSSL checks the key against the certificate as it loads it.
    bool mismatch = !loaded && ERR_GET_LIB(ERR_peek_error()) == ERR_LIB_X509 &&
                    ERR_GET_REASON(ERR_peek_error()) == X509_R_KEY_VALUES_MISMATCH;
    if (!loaded && !mismatch)
        return "tls.key_file \"" + t.key_file + "\" is not a usable PEM private key (an unencrypted one): " + openssl_reason();
    if (mismatch || SSL_CTX_check_private_key(ctx.get()) != 1) {
        ERR_clear_error();
        return "tls.key_file \"" + t.key_file + "\" is not the private key of the certificate in tls.cert_file \"" +
               t.cert_file + "\": give the pair that was issued together";
    }
    return "";
}

std::string check_config(const Config& c) {
    if (auto l = check_limits(c.limits); !l.empty()) return "limits: " + l;
    const auto& r = c.retention;
    if (r.history_s < 0 || r.inbox_s < 1 || r.sweep_interval_s < 1 || r.batch < 1)
        return "retention: history >= 0, inbox >= 1 and sweep_interval >= 1 seconds";
    if (!c.token_key.empty() && c.token_key.size() < 32) return "auth.token_key must be at least 32 bytes";
    if (c.password_cost.memory_kib < 8 || c.password_cost.time_cost < 1)
        return "auth.argon2_memory_kib must be >= 8 and auth.argon2_time_cost >= 1";
    if (c.drain_grace_s < 0 || c.drain_grace_s > 3600) return "server.drain_grace must be 0..3600 seconds";
    if (c.node_id && *c.node_id > 1023) return "server.node_id must be 0..1023";
    if (c.media.max_bytes < 1 || c.media.max_bytes > (1ull << 30)) return "media.max_bytes must be 1..1073741824";
    if (c.media.quota_bytes < c.media.max_bytes) return "media.quota_bytes must be at least media.max_bytes";
    if (!(c.media.uploads_per_min > 0)) return "media.uploads_per_min must be > 0";
    if (c.media.unused_grace_s < 60) return "media.unused_grace must be at least 60 seconds";
    if (media_types(c.media_allowed).empty())
        return "media.allowed must list some of image/jpeg, image/png, image/webp, image/gif, comma-separated";
    if (!c.blobs_public_url.empty() && c.blobs_public_url.rfind("http://", 0) != 0 && c.blobs_public_url.rfind("https://", 0) != 0)
        return "blobs.public_url must start with http:// or https://";
    if (c.blobs_adapter == "s3")
        if (auto why = check_s3(c.s3); !why.empty()) return why;
    if (c.store_adapter == "postgres")
        if (auto why = check_postgres(c); !why.empty()) return why;
    if (!c.token_key.empty() && !c.token_key_file.empty())
        return "auth.token_key and auth.token_key_file are both set: keep one";
    if (auto proxies = parse_prefixes(c.trusted_proxies); !proxies) return "server.trusted_proxies: " + proxies.error().message;
    if (auto why = check_cluster(c); !why.empty()) return why;
    if (auto why = check_tls(c.tls); !why.empty()) return why;
    return "";
}

Invocation load_config(int argc, char** argv, char** envp) {
    Invocation inv;
    Config& c = inv.config;
    std::string listen = c.host + ":" + std::to_string(c.port), sync = "full", node;
    auto all = settings(c, listen, sync, node);

    CLI::App cli{"natterd: a chat server (README.md; settings: file < NATTER_* environment < flags)"};
    std::string config_file;
    cli.add_option("--config", config_file, "a TOML file of settings (also NATTER_CONFIG)");
    cli.add_flag("--print-config", inv.print_config, "print the effective settings as TOML and exit");
    // Flags are applied last, after the file and the environment.
    std::vector<std::pair<Setting*, std::string>> from_flags;
    // A list's flag is repeated, once per entry; together they replace what
    // the file and the environment said.
    std::deque<std::pair<Setting*, std::vector<std::string>>> list_flags;
    std::vector<std::pair<Setting*, CLI::Option*>> list_options;
    for (auto& s : all) {
        if (s.set_list) {
            auto& values = list_flags.emplace_back(&s, std::vector<std::string>{}).second;
            auto* opt = cli.add_option(s.flag, values, s.help + " [" + s.name() + ", " + s.env() + "; default " + s.show() + "]")
                            ->allow_extra_args(false)
                            ->group(s.section);
            list_options.emplace_back(&s, opt);
            continue;
        }
        cli.add_option_function<std::string>(
               s.flag, [&from_flags, &s](const std::string& v) { from_flags.emplace_back(&s, v); },
               s.help + " [" + s.name() + ", " + s.env() + "; default " + (s.secret ? "\"\"" : s.show()) + "]")
            ->group(s.section);
    }
    SeedUsers seed;
    auto* admin = cli.add_subcommand("admin", "operator commands on the data directory");
    auto* seed_cmd = admin->add_subcommand("seed-users", "create users with one device each and print their access "
                                                         "tokens as JSON lines (for load tests; passwords unusable)");
    seed_cmd->add_option("--count", seed.count, "how many users")->required()->check(CLI::Range(1, 10000000));
    seed_cmd->add_option("--prefix", seed.prefix, "usernames are PREFIX0, PREFIX1, ...")->capture_default_str();
    seed_cmd->add_option("--token-ttl", seed.token_ttl_s, "access token lifetime, seconds")->capture_default_str()
        ->check(CLI::Range(60, 30 * 24 * 3600));
    admin->fallthrough();
    seed_cmd->fallthrough();
    admin->require_subcommand(1);
    try {
        cli.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        inv.exit_code = cli.exit(e) == 0 ? 0 : 2;  // --help is 0; every usage error is 2
        return inv;
    }
    auto fail = [&](const std::string& what) {
        std::cerr << "natterd: " << what << "\n";
        inv.exit_code = 2;
        return inv;
    };
    if (config_file.empty())
        if (const char* f = std::getenv("NATTER_CONFIG")) config_file = f;
    if (!config_file.empty())
        if (auto e = apply_file(config_file, all); !e.empty()) return fail(e);
    if (auto e = apply_env(envp, all); !e.empty()) return fail(e);
    for (auto& [s, v] : from_flags)
        if (auto e = s->set(v); !e.empty()) return fail(s->flag + " " + e);
    for (std::size_t i = 0; i < list_options.size(); ++i)
        if (list_options[i].second->count() > 0)
            if (auto e = list_options[i].first->set_list(list_flags[i].second); !e.empty())
                return fail(list_options[i].first->flag + " " + e);
    if (!parse_listen(listen, c)) return fail("server.listen must be HOST:PORT, e.g. 127.0.0.1:8080 (got \"" + listen + "\")");
    c.sqlite_sync_full = sync == "full";
    if (!node.empty()) {
        std::uint32_t id = 0;
        if (!parse_number(node, id).empty() || id > 1023) return fail("server.node_id must be 0..1023 (got \"" + node + "\")");
        c.node_id = id;
    }
    if (auto e = check_config(c); !e.empty()) return fail(e);
    if (seed_cmd->parsed()) inv.seed_users = seed;
    return inv;
}

std::string config_to_toml(const Config& c) {
    Config copy = c;
    std::string listen = c.host + ":" + std::to_string(c.port), sync = c.sqlite_sync_full ? "full" : "normal";
    std::string node = c.node_id ? std::to_string(*c.node_id) : "";
    auto all = settings(copy, listen, sync, node);
    std::string out, section;
    for (auto& s : all) {
        if (s.section != section) {
            out += (section.empty() ? "[" : "\n[") + s.section + "]\n";
            section = s.section;
        }
        const std::string value = s.show();
        const bool empty = value == "''" || value == "\"\"";  // nothing to hide
        out += s.key + " = " + (s.secret && !empty ? "\"<redacted>\"" : value) + "\n";
    }
    return out;
}

}  // namespace natter
