// natterd's settings: file < environment < flags, clear errors, and a
// --print-config that reads back as the same settings.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "../common/temp_dir.hpp"
#include "app/config.hpp"

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

}  // namespace
}  // namespace natter
