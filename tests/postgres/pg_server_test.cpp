// PgServer: real postgres processes that a test starts, stops, crashes and
// starts again; their start-up times are printed (the first server of a
// process pays for initdb).
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <set>

#include "pg_fixture.hpp"

namespace natter::pgtest {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t count_rows(const std::string& conninfo, const std::string& table) {
    pg::Connection c(conninfo);
    return c.exec("SELECT count(*) FROM " + table).i64(0, 0);
}

TEST(PgServer, StartsAndSaysHowToConnect) {
    auto t0 = Clock::now();
    test::PgServer server;
    std::printf("[ timing ] first PgServer of the process (initdb template + copy + start): %lld ms\n", ms_since(t0));
    EXPECT_TRUE(server.running());
    EXPECT_EQ(server.conninfo(), "host=127.0.0.1 port=" + std::to_string(server.port()) +
                                     " dbname=natter user=natter connect_timeout=2");
    pg::Connection c(server.conninfo());
    auto r = c.exec("SELECT current_user, current_database(), current_setting('fsync'), "
                    "current_setting('synchronous_commit'), current_setting('server_encoding'), "
                    "current_setting('listen_addresses')");
    EXPECT_EQ(r.text(0, 0), "natter");
    EXPECT_EQ(r.text(0, 1), "natter");
    EXPECT_EQ(r.text(0, 2), "off");
    EXPECT_EQ(r.text(0, 3), "on");
    EXPECT_EQ(r.text(0, 4), "UTF8");
    EXPECT_EQ(r.text(0, 5), "127.0.0.1");

    auto t1 = Clock::now();
    test::PgServer second;
    std::printf("[ timing ] a later PgServer (copy + start): %lld ms\n", ms_since(t1));
    EXPECT_NE(second.port(), server.port());
}

TEST(PgServer, StopThenStartKeepsPortAndData) {
    test::PgServer server;
    const auto port = server.port();
    {
        pg::Connection c(server.conninfo());
        c.exec("CREATE TABLE kept (v int)");
        c.exec("INSERT INTO kept VALUES (1), (2), (3)");
    }
    auto t0 = Clock::now();
    server.stop();
    std::printf("[ timing ] stop (fast shutdown): %lld ms\n", ms_since(t0));
    EXPECT_FALSE(server.running());
    expect_pg_error(pg::ErrorKind::connection, [&] { pg::Connection c(server.conninfo()); });
    server.stop();  // idempotent

    t0 = Clock::now();
    server.start();
    std::printf("[ timing ] start again: %lld ms\n", ms_since(t0));
    EXPECT_TRUE(server.running());
    EXPECT_EQ(server.port(), port);
    EXPECT_EQ(count_rows(server.conninfo(), "kept"), 3);
    server.start();  // a no-op while running
}

TEST(PgServer, KillThenStartRecoversEveryCommit) {
    test::PgServer server;
    pg::Connection c(server.conninfo());
    c.exec("CREATE TABLE crash (v int)");
    // Commits right before the crash survive it (synchronous_commit stays on).
    for (int i = 0; i < 50; ++i) c.exec("INSERT INTO crash VALUES ($1)", {pg::Param::i64(i)});
    const pid_t postmaster = server.pid();

    auto t0 = Clock::now();
    server.kill();
    std::printf("[ timing ] kill (postmaster and children gone): %lld ms\n", ms_since(t0));
    EXPECT_FALSE(server.running());
    EXPECT_NE(::kill(postmaster, 0), 0);
    expect_pg_error(pg::ErrorKind::connection, [&] { c.exec("SELECT 1"); });

    t0 = Clock::now();
    server.start();
    std::printf("[ timing ] start after a crash (recovery): %lld ms\n", ms_since(t0));
    EXPECT_EQ(count_rows(server.conninfo(), "crash"), 50);
    EXPECT_NE(server.log_tail(200).find("not properly shut down"), std::string::npos) << server.log_tail();
}

TEST(PgServer, StartManyGivesIndependentServers) {
    auto t0 = Clock::now();
    auto servers = test::PgServer::start_many(3);
    std::printf("[ timing ] start_many(3): %lld ms\n", ms_since(t0));
    ASSERT_EQ(servers.size(), 3u);
    std::set<std::uint16_t> ports;
    std::set<std::string> dirs;
    for (std::size_t i = 0; i < servers.size(); ++i) {
        ports.insert(servers[i]->port());
        dirs.insert(servers[i]->dir());
        pg::Connection c(servers[i]->conninfo());
        c.exec("CREATE TABLE shard (v int)");
        for (std::size_t k = 0; k <= i; ++k) c.exec("INSERT INTO shard VALUES (1)");
    }
    EXPECT_EQ(ports.size(), 3u);
    EXPECT_EQ(dirs.size(), 3u);
    for (std::size_t i = 0; i < servers.size(); ++i) EXPECT_EQ(count_rows(servers[i]->conninfo(), "shard"), std::int64_t(i + 1));

    // One down, the others unaffected.
    servers[1]->stop();
    EXPECT_EQ(count_rows(servers[0]->conninfo(), "shard"), 1);
    EXPECT_EQ(count_rows(servers[2]->conninfo(), "shard"), 3);
    servers[1]->start();
    EXPECT_EQ(count_rows(servers[1]->conninfo(), "shard"), 2);

    // Again, now that this process has its template: the cost of three more shards.
    t0 = Clock::now();
    auto more = test::PgServer::start_many(3);
    std::printf("[ timing ] start_many(3) again (template made): %lld ms\n", ms_since(t0));
    for (auto& s : more) EXPECT_TRUE(s->running());
}

TEST(PgServer, DestructorRemovesEverythingWhateverTheState) {
    std::vector<std::string> dirs;
    std::vector<pid_t> pids;
    {
        test::PgServer running, killed, paused, stopped;
        killed.kill();
        paused.pause();
        stopped.stop();
        for (auto* s : {&running, &killed, &paused, &stopped}) dirs.push_back(s->dir());
        pids = {running.pid(), paused.pid()};
    }
    for (const auto& d : dirs) EXPECT_FALSE(std::filesystem::exists(d)) << d;
    for (pid_t p : pids) EXPECT_NE(::kill(p, 0), 0) << p;
}

TEST(PgServer, PauseMakesItHangAndResumeBringsItBack) {
    test::PgServer server;
    pg::Connection c(server.conninfo(), {.statement_timeout = std::chrono::milliseconds(300),
                                         .answer_grace = std::chrono::milliseconds(200)});
    server.pause();
    auto t0 = Clock::now();
    auto e = expect_pg_error(pg::ErrorKind::connection, [&] { c.exec("SELECT 1"); });
    auto waited = ms_since(t0);
    EXPECT_GE(waited, 450);
    EXPECT_LT(waited, 3000);
    EXPECT_NE(e.message.find("no answer"), std::string::npos) << e.what();
    EXPECT_TRUE(c.broken());
    server.resume();
    EXPECT_EQ(pg::Connection(server.conninfo()).exec("SELECT 7").i64(0, 0), 7);
}

TEST(PgServer, CreatesDatabases) {
    test::PgServer server;
    auto t0 = Clock::now();
    auto info = server.create_database("another one");
    std::printf("[ timing ] create_database: %lld ms\n", ms_since(t0));
    EXPECT_EQ(pg::Connection(info).exec("SELECT current_database()").text(0, 0), "another one");
}

TEST(PgServer, AFailedStartSaysWhatTheServerSaid) {
    try {
        test::PgServer server({.settings = {{"shared_buffers", "lots"}}});
        FAIL() << "started with a bad setting";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("shared_buffers"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace natter::pgtest
