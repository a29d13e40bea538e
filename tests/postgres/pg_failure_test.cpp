// A live connection when its server stops, crashes or hangs: the next call
// throws Error(connection), the connection is broken, and a new one works
// once the server is back.
#include "pg_fixture.hpp"

namespace natter::pgtest {
namespace {

using Clock = std::chrono::steady_clock;

TEST(PgFailure, StopUnderALiveConnection) {
    test::PgServer server;
    pg::Connection c(server.conninfo());
    c.exec("CREATE TABLE t (v int)");
    c.exec("INSERT INTO t VALUES (1)");
    server.stop();
    auto e = expect_pg_error(pg::ErrorKind::connection, [&] { c.exec("SELECT count(*) FROM t"); });
    EXPECT_TRUE(c.broken());
    EXPECT_FALSE(c.idle());
    // Stays broken, fails at once.
    expect_pg_error(pg::ErrorKind::connection, [&] { c.exec("SELECT 1"); });
    server.start();
    pg::Connection again(server.conninfo());
    EXPECT_EQ(again.exec("SELECT count(*) FROM t").i64(0, 0), 1);
}

TEST(PgFailure, StopInsideATransaction) {
    test::PgServer server;
    pg::Connection c(server.conninfo());
    c.exec("CREATE TABLE t (v int)");
    expect_pg_error(pg::ErrorKind::connection, [&] {
        c.transaction([&](pg::Connection& tx) {
            tx.exec("INSERT INTO t VALUES (1)");
            server.stop();
            tx.exec("INSERT INTO t VALUES (2)");
        });
    });
    EXPECT_TRUE(c.broken());
    server.start();
    EXPECT_EQ(pg::Connection(server.conninfo()).exec("SELECT count(*) FROM t").i64(0, 0), 0);
}

TEST(PgFailure, CrashUnderALiveConnection) {
    test::PgServer server;
    pg::Connection c(server.conninfo());
    c.exec("CREATE TABLE t (v int)");
    c.exec("INSERT INTO t VALUES (1)");
    server.kill();
    expect_pg_error(pg::ErrorKind::connection, [&] { c.exec("SELECT 1"); });
    EXPECT_TRUE(c.broken());
    server.start();
    EXPECT_EQ(pg::Connection(server.conninfo()).exec("SELECT count(*) FROM t").i64(0, 0), 1);
}

TEST(PgFailure, CrashUnderAPipeline) {
    test::PgServer server;
    pg::Connection c(server.conninfo());
    c.exec("CREATE TABLE t (v int)");
    server.kill();
    expect_pg_error(pg::ErrorKind::connection, [&] {
        c.pipeline({{"INSERT INTO t VALUES (1)", {}}, {"INSERT INTO t VALUES (2)", {}}});
    });
    EXPECT_TRUE(c.broken());
}

TEST(PgFailure, AnIdleConnectionKnowsItsServerStoppedWithoutARoundTrip) {
    test::PgServer server;
    pg::Connection c(server.conninfo());
    EXPECT_TRUE(c.check_alive());
    server.stop();  // the server says goodbye (57P01) and closes the socket
    EXPECT_FALSE(c.check_alive());
    EXPECT_TRUE(c.broken());
}

TEST(PgFailure, AHungServerTimesOutAsAConnectionError) {
    test::PgServer server;
    pg::Connection c(server.conninfo(), {.statement_timeout = std::chrono::milliseconds(200),
                                         .answer_grace = std::chrono::milliseconds(300)});
    server.pause();
    auto t0 = Clock::now();
    expect_pg_error(pg::ErrorKind::connection, [&] {
        c.pipeline({{"SELECT 1", {}}, {"SELECT 2", {}}});
    });
    auto waited = ms_since(t0);
    EXPECT_GE(waited, 450);
    EXPECT_LT(waited, 3000);
    EXPECT_TRUE(c.broken());
    server.resume();
    EXPECT_EQ(pg::Connection(server.conninfo()).exec("SELECT 1").i64(0, 0), 1);
}

}  // namespace
}  // namespace natter::pgtest
