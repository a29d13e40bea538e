// pg::Pool against a real server: lazy connections, the lease deadline,
// broken connections dropped and reopened, and fail-fast while the server
// is down.
#include <atomic>
#include <set>
#include <thread>

#include "adapters/postgres/pg_pool.hpp"
#include "pg_fixture.hpp"
#include "ports/clock.hpp"

namespace natter::pgtest {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

pg::PoolOptions options_for(const test::PgServer& server, std::size_t size = 2) {
    pg::PoolOptions o;
    o.conninfo = server.conninfo();
    o.name = "shard 0";
    o.size = size;
    o.lease_timeout = milliseconds(300);
    return o;
}

TEST(PgPool, ConnectsLazilyAndReusesConnections) {
    test::PgServer server;
    pg::Pool pool(options_for(server));
    EXPECT_EQ(pool.open_count(), 0u);
    EXPECT_TRUE(pool.healthy());
    int pid = 0;
    {
        auto lease = pool.lease();
        pid = lease->backend_pid();
        EXPECT_EQ(lease->exec("SELECT 1").i64(0, 0), 1);
        EXPECT_EQ(pool.open_count(), 1u);
    }
    auto again = pool.lease();
    EXPECT_EQ(again->backend_pid(), pid);
    EXPECT_EQ(pool.open_count(), 1u);
}

TEST(PgPool, LeaseWaitsUntilItsDeadlineThenThrows) {
    test::PgServer server;
    pg::Pool pool(options_for(server, 1));
    auto held = pool.lease();
    auto t0 = Clock::now();
    auto e = expect_pg_error(pg::ErrorKind::connection, [&] { pool.lease(); });
    auto waited = ms_since(t0);
    EXPECT_GE(waited, 290);
    EXPECT_LT(waited, 2000);
    EXPECT_NE(e.message.find("no free connection"), std::string::npos) << e.what();
    EXPECT_TRUE(pool.healthy());  // busy is not down
}

TEST(PgPool, AWaitingLeaseGetsTheConnectionWhenItComesBack) {
    test::PgServer server;
    auto o = options_for(server, 1);
    o.lease_timeout = milliseconds(10'000);
    pg::Pool pool(o);
    auto held = pool.lease();
    const int pid = held->backend_pid();
    std::atomic<int> got{0};
    std::thread waiter([&] { got = pool.lease()->backend_pid(); });
    { auto returned = std::move(held); }  // before or after the waiter starts waiting: it gets this one
    waiter.join();
    EXPECT_EQ(got.load(), pid);
}

TEST(PgPool, ManyThreadsShareAFewConnections) {
    test::PgServer server;
    auto o = options_for(server, 3);
    o.lease_timeout = milliseconds(10'000);
    pg::Pool pool(o);
    pool.lease()->exec("CREATE TABLE hits (thread int, n int)");
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            for (int n = 0; n < 50; ++n)
                pool.lease()->exec("INSERT INTO hits VALUES ($1, $2)", {pg::Param::i64(t), pg::Param::i64(n)});
        });
    for (auto& t : threads) t.join();
    EXPECT_LE(pool.open_count(), 3u);
    EXPECT_EQ(pool.lease()->exec("SELECT count(*) FROM hits").i64(0, 0), 400);
}

TEST(PgPool, ABrokenConnectionIsDroppedAndReopenedOnTheNextLease) {
    test::PgServer server;
    pg::Pool pool(options_for(server));
    int old_pid = 0;
    {
        auto lease = pool.lease();
        old_pid = lease->backend_pid();
        server.stop();
        expect_pg_error(pg::ErrorKind::connection, [&] { lease->exec("SELECT 1"); });
    }
    EXPECT_EQ(pool.open_count(), 0u);
    server.start();
    auto lease = pool.lease();
    EXPECT_NE(lease->backend_pid(), old_pid);
    EXPECT_EQ(lease->exec("SELECT 1").i64(0, 0), 1);
    EXPECT_TRUE(pool.healthy());
}

TEST(PgPool, AnIdleConnectionToARestartedServerIsReplacedUnseen) {
    test::PgServer server;
    pg::Pool pool(options_for(server));
    int old_pid = pool.lease()->backend_pid();  // now idle in the pool
    server.stop();
    server.start();
    auto lease = pool.lease();
    EXPECT_EQ(lease->exec("SELECT 1").i64(0, 0), 1);
    EXPECT_NE(lease->backend_pid(), old_pid);
    EXPECT_EQ(pool.open_count(), 1u);
}

TEST(PgPool, AConnectionReturnedInsideATransactionIsClosed) {
    test::PgServer server;
    pg::Pool pool(options_for(server));
    {
        auto lease = pool.lease();
        lease->exec("BEGIN");
    }
    EXPECT_EQ(pool.open_count(), 0u);
    EXPECT_TRUE(pool.lease()->idle());
}

TEST(PgPool, FailsFastWhileTheServerIsDown) {
    test::PgServer server;
    ManualClock clock(1'000'000);
    auto o = options_for(server);
    o.clock = &clock;
    o.down_for = milliseconds(1'000);
    pg::Pool pool(o);
    server.stop();

    auto first = expect_pg_error(pg::ErrorKind::connection, [&] { pool.lease(); });
    EXPECT_NE(first.message.find("cannot connect"), std::string::npos) << first.what();
    EXPECT_FALSE(pool.healthy());
    auto second = expect_pg_error(pg::ErrorKind::connection, [&] { pool.lease(); });
    EXPECT_NE(second.message.find("shard 0 is down"), std::string::npos) << second.what();
    EXPECT_EQ(pool.open_count(), 0u);

    server.start();
    clock.advance_ms(999);
    EXPECT_FALSE(pool.healthy());  // still inside the window: no attempt yet
    expect_pg_error(pg::ErrorKind::connection, [&] { pool.lease(); });
    clock.advance_ms(1);
    EXPECT_TRUE(pool.healthy());
    EXPECT_EQ(pool.lease()->exec("SELECT 1").i64(0, 0), 1);
    EXPECT_TRUE(pool.healthy());
}

TEST(PgPool, AHungServerCostsOneConnectTimeoutThenFailsFast) {
    test::PgServer server;
    auto o = options_for(server);
    o.down_for = milliseconds(60'000);
    pg::Pool pool(o);
    server.pause();
    auto t0 = Clock::now();
    expect_pg_error(pg::ErrorKind::connection, [&] { pool.lease(); });
    auto first = ms_since(t0);
    t0 = Clock::now();
    expect_pg_error(pg::ErrorKind::connection, [&] { pool.lease(); });
    auto second = ms_since(t0);
    std::printf("[ timing ] lease on a hung server: first %lld ms (connect_timeout=2), then %lld ms\n", first, second);
    EXPECT_GE(first, 1900);
    EXPECT_LT(second, 100);
    EXPECT_FALSE(pool.healthy());
    server.resume();
}

}  // namespace
}  // namespace natter::pgtest
