// natterd on PostgreSQL shards, by configuration alone: the natterd binary as
// a child process with `--store postgres` and three real PostgreSQL servers
// (tests/support/pg_server.hpp), driven over HTTP and WebSocket like any
// client. Accounts, 1:1 messages both ways, acks, history, a restart; rows
// where the ring puts them; and the settings natterd refuses (exit code 2)
// or the shard it cannot reach (exit code 1, named).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <thread>
#include <regex>
#include <sstream>

#include "adapters/postgres/pg_conn.hpp"
#include "core/conversation.hpp"
#include "core/hash_ring.hpp"
#include "support/pg_server.hpp"
#include "support/test_server.hpp"

namespace natter::test {
namespace {

using Args = std::vector<std::string>;

// natterd as a child process: stdout on a pipe (for the "listening on" line
// and to notice the exit), stderr into a file.
class Natterd {
public:
    Natterd(const Args& args, const std::string& stderr_file) : stderr_file_(stderr_file) {
        int out[2];
        if (pipe(out) != 0) throw std::runtime_error("pipe");
        pid_ = fork();
        if (pid_ == 0) {
            int err = ::open(stderr_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
            dup2(out[1], STDOUT_FILENO);
            if (err >= 0) dup2(err, STDERR_FILENO);
            close(out[0]);
            close(out[1]);
            std::vector<char*> argv{const_cast<char*>("natterd")};
            for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
            argv.push_back(nullptr);
            execv(NATTERD_PATH, argv.data());
            _exit(127);
        }
        close(out[1]);
        out_ = out[0];
    }
    ~Natterd() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
        close(out_);
    }

    // The port from "listening on http://127.0.0.1:PORT"; 0 when natterd
    // exited (or said nothing) first.
    std::uint16_t wait_listening(std::chrono::seconds deadline = 30s) {
        static const std::regex kListening("listening on http://127\\.0\\.0\\.1:([0-9]+)");
        auto until = std::chrono::steady_clock::now() + deadline;
        std::smatch m;
        while (!std::regex_search(out_text_, m, kListening)) {
            if (!read_some(until)) return 0;
        }
        return std::uint16_t(std::stoi(m[1]));
    }

    // Waits for the exit (after `sig`, when given); the exit code, 128+signal,
    // or -1 when it did not exit within the deadline.
    int wait_exit(int sig = 0, std::chrono::seconds deadline = 30s) {
        if (sig && pid_ > 0) ::kill(pid_, sig);
        auto until = std::chrono::steady_clock::now() + deadline;
        while (read_some(until)) {
        }
        if (std::chrono::steady_clock::now() >= until) return -1;
        int status = 0;
        waitpid(pid_, &status, 0);
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }

    std::string err() const {
        std::ifstream in(stderr_file_);
        std::ostringstream s;
        s << in.rdbuf();
        return s.str();
    }

private:
    // False at EOF or the deadline.
    bool read_some(std::chrono::steady_clock::time_point until) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd p{out_, POLLIN, 0};
        if (poll(&p, 1, int(left.count())) <= 0) return false;
        char buf[512];
        auto n = read(out_, buf, sizeof buf);
        if (n <= 0) return false;
        out_text_.append(buf, std::size_t(n));
        return true;
    }

    std::string stderr_file_;
    pid_t pid_ = -1;
    int out_ = -1;
    std::string out_text_;
};

// A TCP port on 127.0.0.1 that nothing listens on (bound, read, closed).
std::uint16_t unused_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

class NatterdOnPostgres : public ::testing::Test {
protected:
    // Three servers for the whole suite, started from the test thread (see
    // pg_server.hpp); each test takes fresh databases on them.
    static void SetUpTestSuite() { servers_ = PgServer::start_many(3); }
    static void TearDownTestSuite() { servers_.clear(); }

    // pg-1..pg-3 on a new database `name` of each server.
    static std::vector<std::pair<std::string, std::string>> shards(const std::string& name) {
        std::vector<std::pair<std::string, std::string>> out;
        for (std::size_t i = 0; i < servers_.size(); ++i)
            out.emplace_back("pg-" + std::to_string(i + 1), servers_[i]->create_database(name));
        return out;
    }

    static Args shard_flags(const std::vector<std::pair<std::string, std::string>>& s) {
        Args a;
        for (const auto& [name, conninfo] : s) a.insert(a.end(), {"--postgres-shard", name + "=" + conninfo});
        return a;
    }

    Args base_args() const {
        return {"--listen", "127.0.0.1:0", "--data", dir_.path(), "--argon2-memory-kib", "64", "--argon2-time-cost", "1",
                "--drain-grace", "0", "--send-burst", "1000", "--web-root", "", "--log-level", "warn"};
    }

    std::string log_file() const { return dir_.path() + "/natterd.stderr"; }

    static std::vector<std::unique_ptr<PgServer>> servers_;
    TempDir dir_;
};

std::vector<std::unique_ptr<PgServer>> NatterdOnPostgres::servers_;

HttpResult get(std::uint16_t port, const std::string& target, const Account& who) {
    return http(port, "GET", target, nullptr, who.access_token);
}

std::string conv_of(const Account& x, const Account& y) {
    return direct_conversation(std::stoull(x.user_id), std::stoull(y.user_id)).str();
}

// How many rows of `table` match `where` ($1 = id) on a shard.
std::int64_t rows_on(const std::string& conninfo, const std::string& table, const std::string& where, std::uint64_t id) {
    pg::Connection c(conninfo);
    return c.exec("SELECT count(*) FROM " + table + " WHERE " + where, {pg::Param::id(id)}).i64(0, 0);
}

TEST_F(NatterdOnPostgres, ChatsAcrossShardsAndKeepsEverythingAcrossARestart) {
    auto s = shards("natterd_chat");
    Args args = base_args();
    for (auto a : Args{"--store", "postgres", "--node-id", "1"}) args.push_back(a);
    for (auto a : shard_flags(s)) args.push_back(a);

    Account alice, bob, carol;
    std::string offline_id;
    {
        Natterd natterd(args, log_file());
        auto port = natterd.wait_listening();
        ASSERT_NE(port, 0) << natterd.err();
        EXPECT_EQ(http(port, "GET", "/readyz").status, 200);

        alice = signup(port, "alice");
        bob = signup(port, "bob");
        carol = signup(port, "carol");
        ASSERT_FALSE(bob.user_id.empty()) << natterd.err();
        EXPECT_EQ(http(port, "POST", "/v1/accounts", {{"username", "bob"}, {"password", "password2"}}).status, 409)
            << "the name is unique across the shards";

        auto a = connect_synced(port, alice);
        auto b = connect_synced(port, bob);
        ASSERT_TRUE(a && b);
        // alice -> bob, then bob -> alice, each received and acked.
        a->send(send_frame(bob.user_id, "hello bob"));
        auto sent = a->expect("sent");
        EXPECT_EQ(sent["seq"], 1);
        auto got = next_message(*b);  // acks it
        ASSERT_FALSE(got.is_null()) << natterd.err();
        EXPECT_EQ(got["body"], "hello bob");
        EXPECT_EQ(got["message_id"], sent["message_id"]);
        EXPECT_EQ(got["from"]["user"], alice.user_id);
        b->send(send_frame(alice.user_id, "hello alice"));
        EXPECT_EQ(b->expect("sent")["seq"], 2);
        got = next_message(*a);
        ASSERT_FALSE(got.is_null());
        EXPECT_EQ(got["body"], "hello alice");
        EXPECT_EQ(got["seq"], 2);
        EXPECT_EQ(got["prev_message_id"], sent["message_id"]);

        // A message to carol, who is offline: it waits in her inbox.
        a->send(send_frame(carol.user_id, "for later"));
        offline_id = a->expect("sent")["message_id"];

        // History and the conversation list over HTTP.
        auto page = get(port, "/v1/conversations/" + conv_of(alice, bob) + "/messages?limit=10", bob);
        ASSERT_EQ(page.status, 200) << page.raw;
        ASSERT_EQ(page.body["messages"].size(), 2u);
        EXPECT_EQ(page.body["messages"][0]["body"], "hello alice");
        EXPECT_EQ(page.body["messages"][1]["body"], "hello bob");
        auto list = get(port, "/v1/conversations", alice);
        ASSERT_EQ(list.status, 200) << list.raw;
        EXPECT_EQ(list.body["conversations"].size(), 2u) << list.raw;

        // The metrics see every shard.
        auto metrics = http_raw(port, "GET", "/metrics");
        for (const auto& [name, _] : s)
            EXPECT_NE(metrics.raw.find("natter_store_shard_up{shard=\"" + name + "\"} 1"), std::string::npos)
                << metrics.raw;

        a->close();
        b->close();
        EXPECT_EQ(natterd.wait_exit(SIGTERM), 0) << natterd.err();
    }

    // Each row is on the shard the ring gives its key, and only there.
    HashRing ring({"pg-1", "pg-2", "pg-3"}, HashRing::kDefaultVnodes);
    for (const auto* who : {&alice, &bob, &carol}) {
        auto id = std::stoull(who->user_id);
        auto home = ring.shard_of(ring_key_user(id));
        for (std::size_t i = 0; i < s.size(); ++i) {
            EXPECT_EQ(rows_on(s[i].second, "users", "user_id=$1", id), i == home ? 1 : 0) << who->username << " on " << s[i].first;
            EXPECT_EQ(rows_on(s[i].second, "devices", "user_id=$1", id), i == home ? 1 : 0) << who->username << " on " << s[i].first;
        }
    }
    auto carol_shard = ring.shard_of(ring_key_user(std::stoull(carol.user_id)));
    EXPECT_EQ(rows_on(s[carol_shard].second, "inbox", "user_id=$1", std::stoull(carol.user_id)), 1) << "carol's message waits";
    auto bob_shard = ring.shard_of(ring_key_user(std::stoull(bob.user_id)));
    EXPECT_EQ(rows_on(s[bob_shard].second, "inbox", "user_id=$1", std::stoull(bob.user_id)), 0) << "bob acked his";
    auto home = ring.shard_of(ring_key_conversation(conv_of(alice, bob)));
    for (std::size_t i = 0; i < s.size(); ++i) {
        pg::Connection c(s[i].second);
        auto n = c.exec("SELECT count(*) FROM messages WHERE conversation_id=$1", {pg::Param::text(conv_of(alice, bob))});
        EXPECT_EQ(n.i64(0, 0), i == home ? 2 : 0) << "the conversation's home is " << s[home].first;
    }

    // Started again on the same shards: credentials, the waiting inbox,
    // history and the conversation's order are all still there.
    Natterd natterd(args, log_file());
    auto port = natterd.wait_listening();
    ASSERT_NE(port, 0) << natterd.err();
    std::vector<json> pushed;
    auto c = connect_synced(port, carol, &pushed);  // the token from before the restart
    ASSERT_TRUE(c);
    ASSERT_EQ(pushed.size(), 1u) << natterd.err();
    EXPECT_EQ(pushed[0]["message_id"], offline_id);
    EXPECT_EQ(pushed[0]["body"], "for later");
    auto again = login(port, "bob");  // a password sign-in (a second device)
    ASSERT_FALSE(again.device_id.empty());
    EXPECT_NE(again.device_id, bob.device_id);
    auto page = get(port, "/v1/conversations/" + conv_of(alice, bob) + "/messages?limit=10", again);
    ASSERT_EQ(page.status, 200) << page.raw;
    EXPECT_EQ(page.body["messages"].size(), 2u);
    auto a = connect_synced(port, alice);
    auto b2 = connect_synced(port, again);
    a->send(send_frame(bob.user_id, "after the restart"));
    EXPECT_EQ(a->expect("sent")["seq"], 3);
    auto got = next_message(*b2);
    ASSERT_FALSE(got.is_null()) << natterd.err();
    EXPECT_EQ(got["body"], "after the restart");
    EXPECT_EQ(got["seq"], 3);
    a->close();
    b2->close();
    c->close();
    EXPECT_EQ(natterd.wait_exit(SIGTERM), 0) << natterd.err();
}

// One shard stopped under a running natterd (docs/OPERATIONS.md, "A shard
// down"): a recipient's shard down delays only its users, whose messages
// wait in the outbox and arrive in order once it is back; the home shard of
// a conversation down answers its sends `unavailable` with retry_after_ms,
// and the same send retried later goes in.
TEST_F(NatterdOnPostgres, AShardDownDelaysOnlyItsOwnUsers) {
    auto s = shards("natterd_down_shard");
    Args args = base_args();
    for (auto a : Args{"--store", "postgres", "--node-id", "1"}) args.push_back(a);
    for (auto a : shard_flags(s)) args.push_back(a);
    Natterd natterd(args, log_file());
    auto port = natterd.wait_listening();
    ASSERT_NE(port, 0) << natterd.err();

    // Users until the ring gives what the test needs: a sender S; R on a
    // shard that is neither S's nor their conversation's home; O, a user
    // whose conversation with S has neither R's shard in it; and T (another
    // one), whose conversation with S has its home on a shard that is
    // neither S's nor T's.
    HashRing ring({"pg-1", "pg-2", "pg-3"}, HashRing::kDefaultVnodes);
    auto shard_of = [&](const Account& a) { return ring.shard_of(ring_key_user(std::stoull(a.user_id))); };
    auto home_of = [&](const Account& a, const Account& b) { return ring.shard_of(ring_key_conversation(conv_of(a, b))); };
    std::vector<Account> users;
    std::optional<std::size_t> S, R, O, T;
    for (int i = 0; i < 40 && !(S && R && O && T); ++i) {
        users.push_back(signup(port, "user" + std::to_string(i)));
        ASSERT_FALSE(users.back().user_id.empty()) << natterd.err();
        S = 0;
        R = O = T = std::nullopt;
        const auto& sender = users[0];
        for (std::size_t j = 1; j < users.size() && !R; ++j)
            if (shard_of(users[j]) != shard_of(sender) && home_of(sender, users[j]) != shard_of(users[j]) &&
                home_of(sender, users[j]) != shard_of(sender))
                R = j;
        if (!R) continue;
        auto down = shard_of(users[*R]);
        for (std::size_t j = 1; j < users.size(); ++j) {
            if (j == *R) continue;
            if (!O && shard_of(users[j]) != down && home_of(sender, users[j]) != down) {
                O = j;
                continue;
            }
            auto h = home_of(sender, users[j]);
            if (!T && h != shard_of(sender) && h != shard_of(users[j]) && shard_of(users[j]) != down) T = j;
        }
    }
    ASSERT_TRUE(S && R && O && T) << "no such users among " << users.size();
    const auto &sender = users[*S], &recipient = users[*R], &other = users[*O], &third = users[*T];
    auto a = connect_synced(port, sender);
    auto o = connect_synced(port, other);
    ASSERT_TRUE(a && o);

    // The chat exists before R's shard stops (the first message of a new
    // 1:1 chat checks that the recipient exists, on its shard); R is offline.
    std::vector<std::string> waiting;
    a->send(send_frame(recipient.user_id, "before"));
    waiting.push_back(a->expect("sent")["message_id"]);
    // R's shard stops: sends to R are still `sent` (they are durable on the
    // home shard), and everyone else's messages go on.
    auto& down = *servers_[shard_of(recipient)];
    down.stop();
    for (int i = 2; i <= 4; ++i) {
        a->send(send_frame(recipient.user_id, "while down " + std::to_string(i)));
        auto sent = a->expect("sent");
        EXPECT_EQ(sent["seq"], i);
        waiting.push_back(sent["message_id"]);
    }
    a->send(send_frame(other.user_id, "to the others"));
    a->expect("sent");
    auto got = next_message(*o);
    ASSERT_FALSE(got.is_null()) << natterd.err();
    EXPECT_EQ(got["body"], "to the others");
    {
        pg::Connection home(s[home_of(sender, recipient)].second);
        EXPECT_EQ(home.exec("SELECT count(*) FROM outbox WHERE target_user=$1", {pg::Param::id(std::stoull(recipient.user_id))})
                      .i64(0, 0),
                  3)
            << "R's fan-outs wait in the outbox";
    }

    // History reads the home shard alone; the conversation list asks every
    // shard, so it fails for everyone while one is down.
    EXPECT_EQ(get(port, "/v1/conversations/" + conv_of(sender, recipient) + "/messages", sender).status, 200);
    EXPECT_EQ(get(port, "/v1/conversations", sender).status, 503);

    // Back: R gets all four, in order, once. natterd's pool tries the shard
    // again a second after its last failure: R's profile (on R's shard)
    // answering says it has.
    down.start();
    ASSERT_TRUE(eventually([&] { return get(port, "/v1/users/me", recipient).status == 200; })) << natterd.err();
    auto r = WsClient::connect(port, "user=" + recipient.user_id, recipient.access_token);
    ASSERT_TRUE(r) << natterd.err();
    std::vector<std::string> received;
    for (int i = 0; i < 4; ++i) {
        auto m = next_message(*r);
        ASSERT_FALSE(m.is_null()) << "got " << received.size() << " of 4; " << natterd.err();
        received.push_back(m["message_id"]);
        EXPECT_EQ(m["seq"], i + 1);
    }
    EXPECT_EQ(received, waiting);

    // The home shard of S and T's conversation stops: that conversation's
    // sends answer `unavailable` with when to retry; S's others go on.
    auto home = home_of(sender, third);
    servers_[home]->stop();
    auto frame = send_frame(third.user_id, "home down", "", "42");
    a->send(frame);
    std::optional<json> answer;
    while ((answer = a->recv()) && (*answer)["type"] == "message") {
    }
    ASSERT_TRUE(answer);
    EXPECT_EQ((*answer)["type"], "error") << answer->dump();
    EXPECT_EQ((*answer)["code"], "unavailable") << answer->dump();
    EXPECT_EQ((*answer)["id"], "42");
    ASSERT_TRUE(answer->contains("retry_after_ms")) << answer->dump();
    EXPECT_GT((*answer)["retry_after_ms"].get<std::int64_t>(), 0);
    if (home_of(sender, other) != home) {
        a->send(send_frame(other.user_id, "other conversations go on"));
        EXPECT_EQ(a->expect("sent")["seq"], 2);
    }
    servers_[home]->start();
    // The same send (same client_msg_id) once the shard is back: its
    // history (on the home shard alone) answering says it is.
    ASSERT_TRUE(eventually([&] {
        return get(port, "/v1/conversations/" + conv_of(sender, third) + "/messages", sender).status == 200;
    })) << natterd.err();
    a->send(frame);
    json sent = a->expect("sent");
    ASSERT_FALSE(sent.is_null()) << natterd.err();
    EXPECT_EQ(sent["seq"], 1) << sent.dump() << "\n"
                              << get(port, "/v1/conversations/" + conv_of(sender, third) + "/messages", sender).raw << "\n"
                              << natterd.err();
    a->close();
    o->close();
    r->close();
    EXPECT_EQ(natterd.wait_exit(SIGTERM), 0) << natterd.err();
}

TEST_F(NatterdOnPostgres, RefusesToStartWithoutANodeId) {
    Args args = base_args();
    for (auto a : Args{"--store", "postgres"}) args.push_back(a);
    for (auto a : shard_flags(shards("natterd_no_node"))) args.push_back(a);
    Natterd natterd(args, log_file());
    EXPECT_EQ(natterd.wait_exit(), 2);
    EXPECT_NE(natterd.err().find("server.node_id must be set"), std::string::npos) << natterd.err();
}

TEST_F(NatterdOnPostgres, RefusesABadShardListWithExitCode2NamingTheSetting) {
    struct Case {
        Args args;
        std::vector<std::string> env;  // NATTER_* for the child
        std::string says;
    };
    const std::string ok = "pg-1=host=127.0.0.1 port=" + std::to_string(servers_[0]->port()) + " dbname=natter user=natter";
    std::vector<Case> cases = {
        {{"--store", "postgres", "--node-id", "1"}, {}, "postgres.shards is needed"},
        {{"--store", "postgres", "--node-id", "1", "--postgres-shard", ok, "--postgres-shard", ok}, {}, "postgres.shards names \"pg-1\" twice"},
        {{"--store", "postgres", "--node-id", "1", "--postgres-shard", "host=127.0.0.1 port=5432"}, {}, "--postgres-shard entry 1: starts with the connection keyword \"host\""},
        {{"--store", "postgres", "--node-id", "1", "--postgres-shard", "=host=127.0.0.1"}, {}, "--postgres-shard entry 1: the shard name \"\""},
        {{"--store", "postgres", "--node-id", "1", "--postgres-shard", "pg-1=host=127.0.0.1 port"}, {}, "shard \"pg-1\": its connection string does not parse"},
        {{"--store", "postgres", "--node-id", "1", "--postgres-shard", ok, "--postgres-vnodes", "0"}, {}, "postgres.vnodes must be 1..4096"},
        {{"--store", "postgres", "--node-id", "1"}, {"NATTER_POSTGRES_SHARDS=" + ok + ";pg-2"}, "NATTER_POSTGRES_SHARDS entry 2: must be NAME=CONNINFO"},
        {{"--store", "mysql"}, {}, "--store must be one of \"sqlite\", \"postgres\""},
    };
    for (const auto& c : cases) {
        Args args = base_args();
        for (const auto& a : c.args) args.push_back(a);
        for (const auto& e : c.env)  // inherited by the child
            ::setenv(e.substr(0, e.find('=')).c_str(), e.substr(e.find('=') + 1).c_str(), 1);
        Natterd natterd(args, log_file());
        for (const auto& e : c.env) ::unsetenv(e.substr(0, e.find('=')).c_str());
        EXPECT_EQ(natterd.wait_exit(), 2) << c.says;
        EXPECT_NE(natterd.err().find(c.says), std::string::npos) << "expected \"" << c.says << "\" in: " << natterd.err();
        ::truncate(log_file().c_str(), 0);
    }
}

TEST_F(NatterdOnPostgres, ExitsNamingAShardThatDoesNotAnswer) {
    auto s = shards("natterd_down");
    s[1].second = "host=127.0.0.1 port=" + std::to_string(unused_port()) + " dbname=natter user=natter connect_timeout=2";
    Args args = base_args();
    for (auto a : Args{"--store", "postgres", "--node-id", "1"}) args.push_back(a);
    for (auto a : shard_flags(s)) args.push_back(a);
    Natterd natterd(args, log_file());
    EXPECT_EQ(natterd.wait_listening(), 0) << "natterd must not serve on a partial ring";
    EXPECT_EQ(natterd.wait_exit(), 1);
    EXPECT_NE(natterd.err().find("PostgreSQL shard \"pg-2\" (postgres.shards) does not answer"), std::string::npos)
        << natterd.err();
}

}  // namespace
}  // namespace natter::test
