// natterd's settings: file < environment < flags, clear errors, and a
// --print-config that reads back as the same settings.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <sstream>
#include <vector>

#include "../common/temp_dir.hpp"
#include "app/config.hpp"
#include "support/test_certs.hpp"

namespace natter {
namespace {

struct Args {
    std::vector<std::string> argv{"natterd"};
    std::vector<std::string> env;
    Invocation load() {
        std::vector<char*> a, e;
        for (auto& s : argv) a.push_back(s.data());
        for (auto& s : env) e.push_back(s.data());
        e.push_back(nullptr);
        return load_config(int(a.size()), a.data(), e.data());
    }
};

std::string write(const testutil::TempDir& dir, const std::string& text, const std::string& name = "natterd.toml") {
    auto path = dir.file(name);
    std::ofstream(path) << text;
    return path;
}

TEST(Config, DefaultsServeTheEmbeddedDeploymentOnLocalhost) {
    auto inv = Args{}.load();
    ASSERT_EQ(inv.exit_code, -1);
    EXPECT_EQ(inv.config.host, "127.0.0.1");
    EXPECT_EQ(inv.config.port, 8080);
    EXPECT_EQ(inv.config.data_dir, "./data");
    EXPECT_TRUE(inv.config.sqlite_sync_full);
    EXPECT_EQ(inv.config.limits.max_devices, 10u);
    EXPECT_FALSE(inv.config.node_id.has_value());
}

TEST(Config, FlagsBeatTheEnvironmentWhichBeatsTheFile) {
    testutil::TempDir dir;
    auto file = write(dir, "[limits]\nsend_rate = 3\nmax_devices = 4\npush_window = 100\n[server]\nlisten = \"0.0.0.0:9000\"\nnode_id = 7\n");
    Args a;
    a.argv = {"natterd", "--config", file, "--send-rate", "5"};
    a.env = {"NATTER_LIMITS_SEND_RATE=4", "NATTER_LIMITS_MAX_DEVICES=6", "NATTER_SERVER_DATA=/srv/natter", "HOME=/root"};
    auto inv = a.load();
    ASSERT_EQ(inv.exit_code, -1);
    EXPECT_EQ(inv.config.limits.send_rate_per_s, 5);  // flag
    EXPECT_EQ(inv.config.limits.max_devices, 6u);     // environment over file
    EXPECT_EQ(inv.config.limits.push_window, 100u);   // file
    EXPECT_EQ(inv.config.data_dir, "/srv/natter");
    EXPECT_EQ(inv.config.host, "0.0.0.0");
    EXPECT_EQ(inv.config.port, 9000);
    EXPECT_EQ(inv.config.node_id, 7u);
}

TEST(Config, BadSettingsStopWithAnExitCodeOf2) {
    testutil::TempDir dir;
    std::vector<std::vector<std::string>> bad = {
        {"natterd", "--send-rate", "fast"},
        {"natterd", "--listen", "8080"},
        {"natterd", "--sqlite-synchronous", "sometimes"},
        {"natterd", "--node-id", "5000"},
        {"natterd", "--push-window", "100000"},  // the outbound queue cannot hold it
        {"natterd", "--token-key", "short"},
        {"natterd", "--store", "postgres"},
        {"natterd", "--config", write(dir, "[limits]\nsend_rat = 3\n", "typo.toml")},
        {"natterd", "--config", write(dir, "[limits\n", "broken.toml")},
        {"natterd", "--config", dir.file("missing.toml")},
        {"natterd", "--no-such-flag"},
        {"natterd", "--trusted-proxies", "10.0.0.0/8,proxy.internal"},
        {"natterd", "--login-burst-per-address", "0"},
        {"natterd", "--per-address-exempt", "127.0.0.0/8,localhost"},  // names are not resolved
        {"natterd", "--per-address-exempt", "10.0.0.0/33"},
        {"natterd", "--http-timeout-ms", "10"},
    };
    for (auto& argv : bad) {
        Args a;
        a.argv = argv;
        EXPECT_EQ(a.load().exit_code, 2) << argv.back();
    }
    Args env;
    env.env = {"NATTER_LIMITS_SEND_RAT=3"};
    EXPECT_EQ(env.load().exit_code, 2) << "a misspelt setting must not pass silently";
    Args other;
    other.env = {"NATTER_PASSWORD=y"};
    EXPECT_EQ(other.load().exit_code, -1) << "the client's variables are not natterd's business";
}

TEST(Config, PrintedConfigReadsBackAsTheSameSettingsWithSecretsRedacted) {
    testutil::TempDir dir;
    Args a;
    a.argv = {"natterd", "--send-burst", "77", "--history-retention", "0", "--sqlite-synchronous", "normal",
              "--token-key", "0123456789abcdef0123456789abcdef-secret", "--node-id", "12"};
    auto first = a.load();
    ASSERT_EQ(first.exit_code, -1);
    auto text = config_to_toml(first.config);
    EXPECT_EQ(text.find("abcdef-secret"), std::string::npos) << text;
    EXPECT_NE(text.find("<redacted>"), std::string::npos);
    // Without the secret line, the printed file loads into the same settings.
    std::string without_key;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
        if (line.rfind("token_key", 0) != 0) without_key += line + "\n";
    Args b;
    b.argv = {"natterd", "--config", write(dir, without_key)};
    auto second = b.load();
    ASSERT_EQ(second.exit_code, -1);
    auto again = second.config;
    again.token_key = first.config.token_key;
    EXPECT_EQ(config_to_toml(again), text);
    EXPECT_EQ(second.config.limits.send_burst, 77);
    EXPECT_EQ(second.config.retention.history_s, 0);
    EXPECT_FALSE(second.config.sqlite_sync_full);
    EXPECT_EQ(second.config.node_id, 12u);
}

TEST(Config, PostgresShardsComeFromAFileArrayAnEnvironmentListOrRepeatedFlags) {
    testutil::TempDir dir;
    auto file = write(dir, "[store]\nadapter = \"postgres\"\n[server]\nnode_id = 3\n[postgres]\n"
                           "shards = [\"pg-1=host=10.0.0.1 port=5432 dbname=natter\", "
                           "\"pg-2 = postgresql://natter@10.0.0.2:5432/natter?sslmode=require\"]\n"
                           "vnodes = 1024\npool_size = 8\nworkers = 2\n");
    Args a;
    a.argv = {"natterd", "--config", file};
    auto inv = a.load();
    ASSERT_EQ(inv.exit_code, -1);
    const auto& p = inv.config.postgres;
    EXPECT_EQ(inv.config.store_adapter, "postgres");
    ASSERT_EQ(p.shards.size(), 2u);
    EXPECT_EQ(p.shards[0].name, "pg-1");
    EXPECT_EQ(p.shards[0].conninfo, "host=10.0.0.1 port=5432 dbname=natter");
    EXPECT_EQ(p.shards[1].name, "pg-2");
    EXPECT_EQ(p.shards[1].conninfo, "postgresql://natter@10.0.0.2:5432/natter?sslmode=require");
    EXPECT_EQ(p.vnodes, 1024u);
    EXPECT_EQ(p.pool_size, 8u);
    EXPECT_EQ(p.workers, 2u);

    // The environment's one variable replaces the file's list ...
    a.env = {"NATTER_POSTGRES_SHARDS=a=host=10.0.0.5 port=5432; b=host=10.0.0.6;"};
    inv = a.load();
    ASSERT_EQ(inv.exit_code, -1);
    ASSERT_EQ(inv.config.postgres.shards.size(), 2u);
    EXPECT_EQ(inv.config.postgres.shards[0].name, "a");
    EXPECT_EQ(inv.config.postgres.shards[0].conninfo, "host=10.0.0.5 port=5432");
    EXPECT_EQ(inv.config.postgres.shards[1].name, "b");
    // ... and the flags, all of them together, replace both.
    a.argv.insert(a.argv.end(), {"--postgres-shard", "x=host=h1", "--postgres-shard", "y=host=h2 port=6000"});
    inv = a.load();
    ASSERT_EQ(inv.exit_code, -1);
    ASSERT_EQ(inv.config.postgres.shards.size(), 2u);
    EXPECT_EQ(inv.config.postgres.shards[0].name, "x");
    EXPECT_EQ(inv.config.postgres.shards[1].conninfo, "host=h2 port=6000");
}

TEST(Config, PostgresSettingsThatCannotWorkAreNamed) {
    auto refused = [](const std::function<void(Config&)>& change, const std::string& part) {
        Config c;
        c.store_adapter = "postgres";
        c.node_id = 1;
        c.postgres.shards = {{"pg-1", "host=127.0.0.1 port=5432"}, {"pg-2", "host=127.0.0.1 port=5433"}};
        EXPECT_EQ(check_config(c), "");
        change(c);
        auto why = check_config(c);
        EXPECT_NE(why.find(part), std::string::npos) << "\"" << why << "\" should say " << part;
    };
    refused([](Config& c) { c.node_id.reset(); }, "server.node_id must be set when store.adapter is \"postgres\"");
    refused([](Config& c) { c.postgres.shards.clear(); }, "postgres.shards is needed");
    refused([](Config& c) { c.postgres.shards[1].name = "pg-1"; }, "postgres.shards names \"pg-1\" twice");
    refused([](Config& c) { c.postgres.shards[1].name = ""; }, "the shard name \"\"");
    refused([](Config& c) { c.postgres.shards[0].conninfo = "host"; }, "shard \"pg-1\": its connection string does not parse");
    refused([](Config& c) { c.postgres.vnodes = 0; }, "postgres.vnodes must be 1..4096");
    refused([](Config& c) { c.postgres.vnodes = 4097; }, "postgres.vnodes must be 1..4096");
    refused([](Config& c) { c.postgres.pool_size = 0; }, "postgres.pool_size");
    refused([](Config& c) { c.postgres.workers = 0; }, "postgres.workers");
    Config sqlite;
    sqlite.postgres.vnodes = 0;
    EXPECT_EQ(check_config(sqlite), "") << "[postgres] matters only with store.adapter = \"postgres\"";

    PgShardSetting shard;
    EXPECT_NE(parse_pg_shard("host=10.0.0.1 port=5432", shard).find("connection keyword \"host\""), std::string::npos);
    EXPECT_NE(parse_pg_shard("pg-1", shard).find("must be NAME=CONNINFO"), std::string::npos);
    EXPECT_EQ(parse_pg_shard(" pg-1 = host=10.0.0.1 port=5432 ", shard), "");
    EXPECT_EQ(shard.name, "pg-1");
    EXPECT_EQ(shard.conninfo, "host=10.0.0.1 port=5432");
}

TEST(Config, ClusterModeNeedsSharedStateAndASharedKey) {
    testutil::TempDir dir;
    auto file = write(dir, "[server]\nnode_id = 2\n[store]\nadapter = \"postgres\"\n[postgres]\nshards = [\"pg-1=host=10.0.0.1\"]\n"
                           "[bus]\nadapter = \"redis\"\n[presence]\nadapter = \"redis\"\n"
                           "[redis]\ninstances = [\"redis-1=10.0.0.5:6379\", \"redis-2 = cache.internal:6380\"]\npassword = \"s3cret\"\n"
                           "[auth]\ntoken_key_file = \"/etc/natter/token.key\"\n"
                           "[blobs]\nadapter = \"s3\"\n[s3]\nendpoint = \"http://127.0.0.1:9000\"\nbucket = \"natter\"\n"
                           "access_key_id = \"k\"\nsecret_access_key = \"s\"\n");
    Args a;
    a.argv = {"natterd", "--config", file};
    auto inv = a.load();
    ASSERT_EQ(inv.exit_code, -1);
    const Config c = inv.config;  // a copy: inv is loaded again below
    EXPECT_EQ(c.bus_adapter, "redis");
    EXPECT_EQ(c.presence_adapter, "redis");
    ASSERT_EQ(c.redis.instances.size(), 2u);
    EXPECT_EQ(c.redis.instances[1].name, "redis-2");
    EXPECT_EQ(c.redis.instances[1].host, "cache.internal");
    EXPECT_EQ(c.redis.instances[1].port, 6380);
    EXPECT_EQ(c.token_key_file, "/etc/natter/token.key");
    auto text = config_to_toml(c);
    EXPECT_EQ(text.find("s3cret"), std::string::npos) << "the Redis password is a secret\n" << text;
    EXPECT_NE(text.find("redis-1=10.0.0.5:6379"), std::string::npos) << text;

    a.env = {"NATTER_REDIS_INSTANCES=a=h1:1;b=h2:2"};
    a.argv.insert(a.argv.end(), {"--redis-instance", "x=h3:3"});
    inv = a.load();
    ASSERT_EQ(inv.exit_code, -1);
    ASSERT_EQ(inv.config.redis.instances.size(), 1u) << "the flags replace the environment's list";
    EXPECT_EQ(inv.config.redis.instances[0].host, "h3");

    auto refused = [&](const std::function<void(Config&)>& change, const std::string& part) {
        Config copy = c;
        EXPECT_EQ(check_config(copy), "");
        change(copy);
        auto why = check_config(copy);
        EXPECT_NE(why.find(part), std::string::npos) << "\"" << why << "\" should say " << part;
    };
    refused([](Config& c) { c.token_key_file.clear(); }, "auth.token_key_file (or auth.token_key) must be set");
    refused([](Config& c) { c.token_key = std::string(40, 'k'); }, "auth.token_key and auth.token_key_file are both set");
    refused([](Config& c) { c.presence_adapter = "local"; }, "presence.adapter must be \"redis\"");
    refused([](Config& c) { c.blobs_adapter = "local"; }, "blobs.adapter must be \"s3\"");
    refused([](Config& c) { c.store_adapter = "sqlite"; }, "store.adapter must be \"postgres\"");
    refused([](Config& c) { c.node_id.reset(); }, "server.node_id must be set");
    refused([](Config& c) { c.redis.instances.clear(); }, "redis.instances is needed");
    refused([](Config& c) { c.redis.instances[1].name = "redis-1"; }, "redis.instances names \"redis-1\" twice");

    RedisInstanceSetting r;
    EXPECT_NE(parse_redis_instance("10.0.0.5:6379", r).find("must be NAME=HOST:PORT"), std::string::npos);
    EXPECT_NE(parse_redis_instance("r=10.0.0.5", r).find("must be HOST:PORT"), std::string::npos);
    EXPECT_NE(parse_redis_instance("r=10.0.0.5:0", r).find("1..65535"), std::string::npos);
    EXPECT_NE(parse_redis_instance("r=10.0.0.5:99999", r).find("1..65535"), std::string::npos);
    EXPECT_NE(parse_redis_instance("r r=h:1", r).find("instance name"), std::string::npos);
}

TEST(Config, PrintedPostgresShardsReadBackWithPasswordsRedacted) {
    testutil::TempDir dir;
    Args a;
    a.argv = {"natterd", "--store", "postgres", "--node-id", "9", "--postgres-shard", "pg-1=host=10.0.0.1 dbname=natter",
              "--postgres-shard", "pg-2=host=10.0.0.2 user=natter password=hunter2 dbname=natter", "--postgres-vnodes", "64"};
    auto first = a.load();
    ASSERT_EQ(first.exit_code, -1);
    auto text = config_to_toml(first.config);
    EXPECT_EQ(text.find("hunter2"), std::string::npos) << text;
    EXPECT_NE(text.find("password='<redacted>'"), std::string::npos) << text;
    EXPECT_NE(text.find("pg-1=host=10.0.0.1 dbname=natter"), std::string::npos) << "no password: as given\n" << text;
    Args b;
    b.argv = {"natterd", "--config", write(dir, text)};
    auto second = b.load();
    ASSERT_EQ(second.exit_code, -1);
    EXPECT_EQ(config_to_toml(second.config), text);
    ASSERT_EQ(second.config.postgres.shards.size(), 2u);
    EXPECT_EQ(second.config.postgres.shards[0].conninfo, "host=10.0.0.1 dbname=natter");
    EXPECT_EQ(second.config.postgres.vnodes, 64u);
    // The default, an empty list, reads back too.
    Args c;
    c.argv = {"natterd", "--config", write(dir, config_to_toml(Config{}), "default.toml")};
    EXPECT_EQ(c.load().exit_code, -1);
}

TEST(Config, TlsTakesACertificateAndItsKeyFromTheFileTheEnvironmentOrFlags) {
    testutil::TempDir dir;
    auto certs = test::make_test_certs(dir.path().string());
    Args file;
    file.argv = {"natterd", "--config",
                 write(dir, "[tls]\ncert_file = \"" + certs.cert_file + "\"\nkey_file = \"" + certs.key_file + "\"\n")};
    Args env;
    env.env = {"NATTER_TLS_CERT_FILE=" + certs.cert_file, "NATTER_TLS_KEY_FILE=" + certs.key_file};
    Args flags;
    flags.argv = {"natterd", "--tls-cert", certs.cert_file, "--tls-key", certs.key_file};
    for (auto* a : {&file, &env, &flags}) {
        auto inv = a->load();
        ASSERT_EQ(inv.exit_code, -1);
        EXPECT_TRUE(inv.config.tls.enabled());
        EXPECT_EQ(inv.config.tls.cert_file, certs.cert_file);
        EXPECT_EQ(inv.config.tls.key_file, certs.key_file);
        // --print-config shows them, and reads back as the same.
        Args again;
        again.argv = {"natterd", "--config", write(dir, config_to_toml(inv.config), "printed.toml")};
        auto back = again.load();
        ASSERT_EQ(back.exit_code, -1);
        EXPECT_EQ(back.config.tls.cert_file, certs.cert_file);
        EXPECT_EQ(back.config.tls.key_file, certs.key_file);
    }
    // Neither: plain HTTP, as before.
    EXPECT_FALSE(Args{}.load().config.tls.enabled());
}

TEST(Config, TlsSettingsThatCannotWorkAreNamed) {
    testutil::TempDir dir;
    auto certs = test::make_test_certs(dir.path().string());
    auto not_pem = write(dir, "not a certificate\n", "junk.pem");
    struct Case {
        std::string cert, key, says;
    };
    std::vector<Case> cases = {
        {certs.cert_file, "", "tls.cert_file and tls.key_file go together"},
        {"", certs.key_file, "tls.cert_file and tls.key_file go together"},
        {dir.file("missing.pem"), certs.key_file, "cannot be read: No such file or directory"},
        {certs.cert_file, dir.file("missing.key"), "tls.key_file \"" + dir.file("missing.key") + "\" cannot be read"},
        {not_pem, certs.key_file, "is not a usable PEM certificate (then its chain): no start line"},
        {certs.cert_file, not_pem, "is not a usable PEM private key"},
        {certs.key_file, certs.key_file, "is not a usable PEM certificate"},
        {certs.cert_file, certs.other_key_file, "is not the private key of the certificate in tls.cert_file"},
    };
    for (const auto& c : cases) {
        TlsSettings t{c.cert, c.key};
        auto why = check_tls(t);
        EXPECT_NE(why.find(c.says), std::string::npos) << "cert=" << c.cert << " key=" << c.key << ": " << why;
        Args a;
        if (!c.cert.empty()) a.argv.insert(a.argv.end(), {"--tls-cert", c.cert});
        if (!c.key.empty()) a.argv.insert(a.argv.end(), {"--tls-key", c.key});
        EXPECT_EQ(a.load().exit_code, 2) << why;
    }
    EXPECT_EQ(check_tls(TlsSettings{certs.cert_file, certs.key_file}), "");
}

}  // namespace
}  // namespace natter
