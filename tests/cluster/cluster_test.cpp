// The cluster runtime on real parts: scripts/cluster.sh starts two Redis
// instances, two PostgreSQL shards, s3rver, three natterd nodes and HAProxy
// on free loopback ports, once for this process. Users on different nodes
// chat, see each other's presence and typing; then natter-bench runs through
// HAProxy with --reconnect --verify while one fault at a time hits the
// cluster, and must prove that nothing that got `sent` was lost, nothing was
// shown twice and order held. The delivery delays during each fault are
// printed (and recorded in docs/OPERATIONS.md), not asserted: timing is for
// benchmarks.
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <sstream>

#include "../common/temp_dir.hpp"
#include "e2e/cli_process.hpp"
#include "support/test_client.hpp"
#include "support/test_server.hpp"

namespace natter::test {
namespace {

using e2e::CliProcess;
using namespace std::chrono_literals;

// One cluster for the whole process: starting it takes tens of seconds.
class Cluster {
public:
    static Cluster& get() {
        static Cluster c;
        return c;
    }
    bool up() const { return up_; }
    const std::string& why_not() const { return why_not_; }

    // scripts/cluster.sh COMMAND... on this cluster; its output, or a failure.
    std::string run(const std::vector<std::string>& args, std::chrono::seconds deadline = 120s) {
        std::vector<std::string> argv = args;
        argv.insert(argv.begin() + 1, {"--dir", dir_});
        CliProcess p(CLUSTER_SCRIPT, argv, env());
        int code = p.wait(deadline);
        EXPECT_EQ(code, 0) << "cluster.sh " << args[0] << " failed:\n" << p.describe();
        return p.out();
    }
    std::uint16_t port(const std::string& name) const {
        auto it = vars_.find(name);
        if (it == vars_.end()) {
            ADD_FAILURE() << "cluster.sh env has no " << name;
            return 0;
        }
        return std::uint16_t(std::stoi(it->second));
    }
    std::uint16_t haproxy() const { return port("HAPROXY_PORT"); }
    std::uint16_t node(int k) const { return port("NODE" + std::to_string(k) + "_PORT"); }
    const std::string& dir() const { return dir_; }
    std::string var(const std::string& name) const {
        auto it = vars_.find(name);
        return it == vars_.end() ? "" : it->second;
    }
    std::string users_file(std::size_t count) {
        auto file = dir_ + "/users-" + std::to_string(count) + ".jsonl";
        if (!std::ifstream(file)) {
            auto out = run({"seed-users", std::to_string(count), "bench" + std::to_string(count) + "u"});
            std::ofstream(file) << out;
        }
        return file;
    }

    ~Cluster() {
        if (!started_) return;
        CliProcess p(CLUSTER_SCRIPT, {"down", "--dir", dir_}, env());
        p.wait(120s);
    }

private:
    Cluster() : dir_((tmp_.path() / "cluster").string()) {
        started_ = true;
        CliProcess p(CLUSTER_SCRIPT, {"up", "--dir", dir_}, env());
        if (p.wait(300s) != 0) {
            why_not_ = "cluster.sh up failed:\n" + p.describe();
            return;
        }
        CliProcess e(CLUSTER_SCRIPT, {"env", "--dir", dir_}, env());
        if (e.wait(30s) != 0) {
            why_not_ = "cluster.sh env failed:\n" + e.describe();
            return;
        }
        std::istringstream in(e.out());
        for (std::string line; std::getline(in, line);) {
            if (line.rfind("export ", 0) == 0) line = line.substr(7);
            auto eq = line.find('=');
            if (eq == std::string::npos) continue;
            auto value = line.substr(eq + 1);
            if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'')) value = value.substr(1, value.size() - 2);
            vars_[line.substr(0, eq)] = value;
        }
        up_ = true;
    }
    static e2e::Env env() { return {{"NATTERD", NATTERD_PATH}, {"NATTER", NATTER_CLI_PATH}, {"NATTER_BENCH", NATTER_BENCH_PATH}}; }

    testutil::TempDir tmp_;
    std::string dir_;
    bool started_ = false;
    bool up_ = false;
    std::string why_not_;
    std::map<std::string, std::string> vars_;
};

class ClusterTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (!cluster().up()) FAIL() << cluster().why_not();
    }
    static Cluster& cluster() { return Cluster::get(); }
    static std::string unique(const std::string& name) {
        static int n = 0;
        return name + std::to_string(++n) + new_uuid().substr(0, 6);
    }
};

TEST_F(ClusterTest, UsersOnDifferentNodesChatWithReceiptsPresenceAndTyping) {
    auto& c = cluster();
    // Accounts through HAProxy; sockets straight to nodes 1 and 3.
    auto alice = signup(c.haproxy(), unique("alice"));
    auto bob = signup(c.haproxy(), unique("bob"));
    auto a = connect_synced(c.node(1), alice);
    auto b = connect_synced(c.node(3), bob);
    ASSERT_TRUE(a && b);

    a->send(send_frame(bob.user_id, "across nodes", "", "s1"));
    auto sent = a->expect("sent");
    auto m = b->expect("message");
    EXPECT_EQ(m["message_id"], sent["message_id"]);
    EXPECT_EQ(m["body"], "across nodes");

    // The ack on node 3 reaches the sender on node 1 as a receipt.
    a->keep_notices(true);
    b->send({{"type", "ack"}, {"message_ids", {m["message_id"]}}});
    auto receipt = a->expect("receipt");
    EXPECT_EQ(receipt["by"], bob.user_id);
    EXPECT_EQ(receipt["up_to_seq"], 1);
    EXPECT_EQ(receipt["status"], "delivered");

    // Presence: alice watches bob (online on node 3), then bob leaves.
    a->send({{"type", "presence"}, {"users", {bob.user_id}}});
    auto online = a->expect("presence");
    EXPECT_EQ(online["user"], bob.user_id);
    EXPECT_EQ(online["status"], "online");

    // Typing from node 3 to node 1.
    b->send({{"type", "typing"}, {"conversation_id", sent["conversation_id"]}, {"state", "start"}});
    auto typing = a->expect("typing");
    EXPECT_EQ(typing["user"], bob.user_id);
    EXPECT_EQ(typing["state"], "start");

    b->close();
    auto offline = a->expect("presence");
    EXPECT_EQ(offline["status"], "offline");
    EXPECT_GT(offline["last_seen"].get<std::int64_t>(), 0);

    // While bob is away, alice's message waits in his inbox; it reaches him
    // through HAProxy, on whichever node that is.
    a->send(send_frame(bob.user_id, "while you were away", "", "s2"));
    a->expect("sent");
    std::vector<json> pushed;
    auto b2 = connect_synced(c.haproxy(), bob, &pushed);
    ASSERT_EQ(pushed.size(), 1u);
    EXPECT_EQ(pushed[0]["body"], "while you were away");
    EXPECT_EQ(a->expect("presence")["status"], "online");
}

// Redis restarted empty: the nodes heartbeat their sockets again, so a user
// still connected is online again for whoever asks, and messages flow.
TEST_F(ClusterTest, PresenceAndPushesComeBackAfterEveryRedisRestarts) {
    auto& c = cluster();
    auto alice = signup(c.haproxy(), unique("alice"));
    auto bob = signup(c.haproxy(), unique("bob"));
    auto a = connect_synced(c.node(1), alice);
    auto b = connect_synced(c.node(3), bob);
    ASSERT_TRUE(a && b);
    a->send(send_frame(bob.user_id, "before"));
    a->expect("sent");
    b->send({{"type", "ack"}, {"message_ids", {b->expect("message")["message_id"]}}});

    c.run({"restart-redis", "1"});
    c.run({"restart-redis", "2"});

    int asked = 0;
    EXPECT_TRUE(eventually([&] {
        a->send({{"type", "presence"}, {"id", "w" + std::to_string(++asked)}, {"users", {bob.user_id}}});
        auto p = a->expect("presence");
        return p["status"] == "online";
    }, 30s)) << "bob is still connected: online again once node 3 heartbeats him into the new Redis";
    a->send(send_frame(bob.user_id, "after"));
    a->expect("sent");
    EXPECT_EQ(b->expect("message")["body"], "after");
}

TEST_F(ClusterTest, AnyNodeAcceptsAnyNodesTokens) {
    auto& c = cluster();
    auto carol = signup(c.node(2), unique("carol"));  // token minted by node 2
    for (int k = 1; k <= 3; ++k) {
        auto r = http(c.node(k), "GET", "/v1/users/me", nullptr, carol.access_token);
        EXPECT_EQ(r.status, 200) << "node " << k << ": " << r.raw;
    }
}

TEST_F(ClusterTest, ASecondNodeWithARunningNodesIdIsRefused) {
    auto& c = cluster();
    testutil::TempDir data;
    // Node 1 holds its lease (after a Redis restart it takes it back within
    // a refresh: until then a twin could take it first).
    auto lease_held = [&] {
        for (const char* redis : {"REDIS1_PORT", "REDIS2_PORT"}) {
            CliProcess cli("/usr/bin/redis-cli", {"-p", c.var(redis), "EXISTS", "node:1"}, {});
            if (cli.wait(10s) == 0 && cli.out().find('1') != std::string::npos) return true;
        }
        return false;
    };
    ASSERT_TRUE(eventually(lease_held, 30s));
    // Node 1's settings, another data directory: another owner of node_id 1.
    CliProcess twin(NATTERD_PATH, {"--config", c.var("NODE_CONFIG_1"), "--data", data.path().string(), "--listen", "127.0.0.1:0"},
                    {});
    int code = twin.wait(30s);
    EXPECT_NE(code, 0) << twin.describe();
    EXPECT_NE(twin.err().find("node_id 1 is in use"), std::string::npos) << twin.describe();
    // Node 1 itself is unaffected.
    EXPECT_EQ(http(c.node(1), "GET", "/readyz").status, 200);
}

// A sample of natterd's /metrics, e.g. natter_store_shard_up{shard="pg-2"}; -1 when absent.
double metric(std::uint16_t port, const std::string& sample) {
    auto r = http_raw(port, "GET", "/metrics");
    if (r.status != 200) return -1;
    std::istringstream in(r.raw);
    for (std::string line; std::getline(in, line);)
        if (line.rfind(sample + " ", 0) == 0) return std::stod(line.substr(sample.size() + 1));
    return -1;
}

// HAProxy's view of a backend server ("UP", "DOWN", "MAINT"...), from its
// stats page's CSV; "" when not found.
std::string haproxy_state(std::uint16_t stats_port, const std::string& server) {
    auto r = http_raw(stats_port, "GET", "/;csv");
    std::istringstream in(r.raw);
    for (std::string line; std::getline(in, line);) {
        std::vector<std::string> cols;
        std::istringstream row(line);
        for (std::string col; std::getline(row, col, ',');) cols.push_back(col);
        if (cols.size() > 17 && cols[0] == "nodes" && cols[1] == server) return cols[17];  // pxname, svname, ..., status
    }
    return "";
}

// What a fault run measured, for the record.
struct FaultRun {
    json report;
};

// natter-bench through HAProxy with --reconnect --verify; `fault` runs once
// the run has delivered for a few seconds, `heal` right after it.
FaultRun run_through(Cluster& c, const std::string& name, const std::function<void()>& fault,
                     const std::function<void()>& heal) {
    auto users = c.users_file(40);
    CliProcess bench(NATTER_BENCH_PATH,
                     {"direct", "--users", users, "--target", "127.0.0.1:" + std::to_string(c.haproxy()), "--rate", "200",
                      "--duration", "20", "--drain", "45", "--reconnect", "--verify", "--json"},
                     {});
    // Three seconds of traffic first (its progress line), so the fault hits a running system.
    EXPECT_TRUE(bench.wait_stderr("  3.0s  sends", 90s)) << bench.describe();
    fault();
    heal();
    int code = bench.wait(180s);
    FaultRun run;
    try {
        run.report = json::parse(bench.out());
    } catch (const std::exception&) {
        ADD_FAILURE() << name << ": no JSON report:\n" << bench.describe();
        return run;
    }
    const auto& r = run.report;
    std::printf("cluster fault %-12s delivered %s of sent %s, max delivery %.0f ms, longest stall %.0f ms, "
                "reconnects %s, retries %s, verify %s\n",
                name.c_str(), r.value("delivered_total", json()).dump().c_str(), r.value("sent_ok", json()).dump().c_str(),
                r.value("max_delivery_ms", 0.0), r.value("longest_stall_ms", 0.0), r.value("reconnects", json()).dump().c_str(),
                r.value("retries", json()).dump().c_str(), r.contains("verify") ? r["verify"].value("ok", false) ? "OK" : "FAILED" : "-");
    EXPECT_EQ(code, 0) << name << ":\n" << bench.describe();
    EXPECT_TRUE(r.contains("verify") && r["verify"].value("ok", false)) << name << ": " << r.dump(2);
    EXPECT_EQ(r.value("undelivered", -1), 0) << name;
    EXPECT_GT(r.value("sent_ok", 0), 0) << name;
    return run;
}

TEST_F(ClusterTest, KillingANodeLosesNothing) {
    auto& c = cluster();
    auto run = run_through(
        c, "kill -9 node",
        [&] {
            c.run({"kill-node", "2"});
            // Down until HAProxy's health checks have seen it, not for a set time.
            EXPECT_TRUE(eventually([&] { return haproxy_state(c.port("HAPROXY_STATS_PORT"), "node2").rfind("DOWN", 0) == 0; }, 30s));
        },
        [&] { c.run({"start-node", "2"}); });
    EXPECT_GT(run.report.value("reconnects", 0), 0) << "the killed node's clients came back through HAProxy";
}

TEST_F(ClusterTest, RestartingARedisLosesNothing) {
    auto& c = cluster();
    run_through(c, "restart redis", [&] { c.run({"restart-redis", "1"}); }, [] {});
}

TEST_F(ClusterTest, StoppingAPostgresShardLosesNothing) {
    auto& c = cluster();
    run_through(
        c, "stop shard",
        [&] {
            c.run({"stop-shard", "2"});
            // Down until the nodes have noticed (their shard probe), not for a set time.
            EXPECT_TRUE(eventually([&] { return metric(c.node(1), "natter_store_shard_up{shard=\"pg-2\"}") == 0; }, 30s));
        },
        [&] { c.run({"start-shard", "2"}); });
}

TEST_F(ClusterTest, DrainingANodeMovesItsClientsAndLosesNothing) {
    auto& c = cluster();
    auto run = run_through(
        c, "drain node", [&] { c.run({"drain-node", "3"}); }, [&] { c.run({"start-node", "3"}); });
    EXPECT_GT(run.report.value("reconnects", 0), 0) << "the drained node closed its sockets with 1012";
}

}  // namespace
}  // namespace natter::test
