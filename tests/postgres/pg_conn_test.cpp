// pg::Connection and pg::Rows on a real server: parameters and values round
// trip, errors are classified, transactions commit or roll back.
#include <libpq-fe.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <limits>

#include "pg_fixture.hpp"

namespace natter::pgtest {
namespace {

using pg::Param;
using Clock = std::chrono::steady_clock;

constexpr auto kI64Min = std::numeric_limits<std::int64_t>::min();
constexpr auto kI64Max = std::numeric_limits<std::int64_t>::max();
constexpr auto kU64Max = std::numeric_limits<std::uint64_t>::max();

using PgConn = PgTest;

TEST(PgIds, MapToBigintBitForBit) {
    static_assert(pg::to_db(0) == 0);
    static_assert(pg::to_db(42) == 42);
    static_assert(pg::to_db(std::uint64_t(kI64Max)) == kI64Max);
    static_assert(pg::to_db(std::uint64_t(kI64Max) + 1) == kI64Min);
    static_assert(pg::to_db(kU64Max) == -1);
    for (std::uint64_t id : {0ull, 1ull, 0x7fffffffffffffffull, 0x8000000000000000ull, 0xffffffffffffffffull})
        EXPECT_EQ(pg::from_db(pg::to_db(id)), id);
}

TEST_F(PgConn, ValuesRoundTripThroughParams) {
    auto c = connect();
    c.exec("CREATE TABLE v (k int PRIMARY KEY, id bigint, n bigint, t text, b boolean, big numeric)");
    const std::string utf8 = "héllo, 世界 👋 \"quoted\" 'single' \\ back; DROP TABLE v; --";
    c.exec("INSERT INTO v VALUES ($1, $2, $3, $4, $5, $6)",
           {Param::i64(1), Param::id(kU64Max), Param::i64(kI64Min), Param::text(utf8), Param::boolean(true), Param::u64(kU64Max)});
    c.exec("INSERT INTO v VALUES ($1, $2, $3, $4, $5, $6)",
           {Param::i64(2), Param::id(0), Param::i64(kI64Max), Param::text(""), Param::boolean(false), Param::u64(0)});
    c.exec("INSERT INTO v VALUES ($1, $2, $3, $4, $5, $6)",
           {Param::i64(3), Param::null(), Param::null(), Param::null(), Param::null(), Param::null()});

    auto r = c.exec("SELECT k, id, n, t, b, big FROM v ORDER BY k");
    ASSERT_EQ(r.size(), 3);
    ASSERT_EQ(r.columns(), 6);
    EXPECT_EQ(r.id(0, 1), kU64Max);
    EXPECT_EQ(r.i64(0, 1), -1);  // as it sits in the bigint
    EXPECT_EQ(r.i64(0, 2), kI64Min);
    EXPECT_EQ(r.text(0, 3), utf8);
    EXPECT_TRUE(r.boolean(0, 4));
    EXPECT_EQ(r.u64(0, 5), kU64Max);

    EXPECT_EQ(r.id(1, 1), 0u);
    EXPECT_EQ(r.i64(1, 2), kI64Max);
    EXPECT_EQ(r.text(1, 3), "");
    EXPECT_FALSE(r.is_null(1, 3));  // '' is not NULL
    EXPECT_FALSE(r.boolean(1, 4));
    EXPECT_EQ(r.u64(1, 5), 0u);

    for (int col = 1; col < 6; ++col) EXPECT_TRUE(r.is_null(2, col)) << col;
    EXPECT_EQ(r.text(2, 3), "");

    // The server sees the same characters, not bytes mangled on the way.
    EXPECT_EQ(c.exec("SELECT length(t) FROM v WHERE k = 1").i64(0, 0), 54);
}

TEST_F(PgConn, SnowflakeIdsKeepTheirOrderInBigint) {
    auto c = connect();
    c.exec("CREATE TABLE ids (id bigint PRIMARY KEY)");
    // Snowflakes (below 2^63) inserted out of order come back in id order.
    const std::uint64_t ids[] = {0x0123456789abcdefull, 1, 0x7fffffffffffffffull, 0x00000000ffffffffull, 0x0000f00000000000ull};
    for (auto id : ids) c.exec("INSERT INTO ids VALUES ($1)", {Param::id(id)});
    auto r = c.exec("SELECT id FROM ids ORDER BY id");
    std::vector<std::uint64_t> got;
    for (int i = 0; i < r.size(); ++i) got.push_back(r.id(i, 0));
    std::vector<std::uint64_t> want(std::begin(ids), std::end(ids));
    std::sort(want.begin(), want.end());
    EXPECT_EQ(got, want);
    EXPECT_EQ(c.exec("SELECT id FROM ids WHERE id = $1", {Param::id(0x0123456789abcdefull)}).text(0, 0), "81985529216486895");
}

TEST_F(PgConn, AU64AboveBigintIsRefusedNotWrapped) {
    auto c = connect();
    c.exec("CREATE TABLE ids (id bigint)");
    auto e = expect_pg_error(pg::ErrorKind::other, [&] { c.exec("INSERT INTO ids VALUES ($1)", {Param::u64(kU64Max)}); });
    EXPECT_EQ(e.sqlstate, "22003");  // numeric_value_out_of_range
}

TEST_F(PgConn, RowsByColumnNameAndTheirChecks) {
    auto c = connect();
    auto r = c.exec("SELECT 1 AS one, 'x' AS word, NULL::bigint AS nothing, '-5' AS minus, 'maybe' AS fuzzy");
    EXPECT_EQ(r.i64(0, r.column("one")), 1);
    EXPECT_EQ(r.text(0, r.column("word")), "x");
    expect_pg_error(pg::ErrorKind::other, [&] { r.column("missing"); });
    expect_pg_error(pg::ErrorKind::other, [&] { r.i64(0, r.column("nothing")); });
    expect_pg_error(pg::ErrorKind::other, [&] { r.i64(0, r.column("word")); });
    expect_pg_error(pg::ErrorKind::other, [&] { r.u64(0, r.column("minus")); });
    expect_pg_error(pg::ErrorKind::other, [&] { r.boolean(0, r.column("fuzzy")); });
    expect_pg_error(pg::ErrorKind::other, [&] { r.text(1, 0); });
    expect_pg_error(pg::ErrorKind::other, [&] { r.text(0, 5); });
    EXPECT_EQ(r.i64(0, r.column("minus")), -5);
}

TEST_F(PgConn, AffectedRowsAndStatus) {
    auto c = connect();
    c.exec("CREATE TABLE a (v int)");
    EXPECT_EQ(c.exec("INSERT INTO a SELECT generate_series(1, 10)").affected(), 10);
    auto r = c.exec("UPDATE a SET v = v + 1 WHERE v > 3");
    EXPECT_EQ(r.affected(), 7);
    EXPECT_EQ(r.status(), "UPDATE 7");
    EXPECT_EQ(c.exec("DELETE FROM a WHERE v = 100").affected(), 0);
    auto ret = c.exec("INSERT INTO a VALUES (42) RETURNING v");
    EXPECT_EQ(ret.affected(), 1);
    EXPECT_EQ(ret.i64(0, 0), 42);
}

TEST_F(PgConn, ScriptRunsSeveralStatements) {
    auto c = connect();
    c.script(R"(
        CREATE TABLE IF NOT EXISTS s1 (v int);
        CREATE TABLE IF NOT EXISTS s2 (v int);
        INSERT INTO s1 VALUES (1);
    )");
    c.script("CREATE TABLE IF NOT EXISTS s1 (v int)");  // a notice, not an error
    EXPECT_EQ(c.exec("SELECT count(*) FROM s1").i64(0, 0), 1);
    expect_pg_error(pg::ErrorKind::other, [&] { c.script("SELECT 1; SELEC 2;"); });
    EXPECT_FALSE(c.broken());
}

TEST_F(PgConn, ErrorsAreClassifiedAndLeaveTheConnectionUsable) {
    auto c = connect();
    c.exec("CREATE TABLE u (id bigint PRIMARY KEY)");
    c.exec("INSERT INTO u VALUES (1)");
    auto dup = expect_pg_error(pg::ErrorKind::unique_violation, [&] { c.exec("INSERT INTO u VALUES (1)"); });
    EXPECT_EQ(dup.sqlstate, "23505");
    EXPECT_NE(dup.message.find("Key (id)=(1) already exists"), std::string::npos) << dup.message;
    EXPECT_FALSE(c.broken());

    auto syntax = expect_pg_error(pg::ErrorKind::other, [&] { c.exec("SELEKT 1"); });
    EXPECT_EQ(syntax.sqlstate, "42601");

    // Any SQLSTATE, raised by the server itself.
    struct Case {
        const char* state;
        pg::ErrorKind kind;
    };
    for (auto [state, kind] : {Case{"23505", pg::ErrorKind::unique_violation}, Case{"40001", pg::ErrorKind::serialization},
                               Case{"40P01", pg::ErrorKind::serialization}, Case{"22012", pg::ErrorKind::other},
                               Case{"23503", pg::ErrorKind::other}}) {
        auto e = expect_pg_error(kind, [&] {
            c.exec(std::string("DO $$ BEGIN RAISE EXCEPTION 'raised' USING ERRCODE = '") + state + "'; END $$");
        });
        EXPECT_EQ(e.sqlstate, state);
        EXPECT_FALSE(c.broken());
    }
    EXPECT_EQ(c.exec("SELECT 1").i64(0, 0), 1);
    EXPECT_TRUE(c.idle());
}

TEST_F(PgConn, ConnectFailuresAreConnectionErrors) {
    auto refused = expect_pg_error(pg::ErrorKind::connection, [&] {
        pg::Connection c("host=127.0.0.1 port=1 dbname=natter user=natter connect_timeout=2");
    });
    EXPECT_NE(refused.message.find("127.0.0.1:1"), std::string::npos) << refused.what();
    auto no_db = expect_pg_error(pg::ErrorKind::connection, [&] { pg::Connection c(shared_server().conninfo("nope")); });
    EXPECT_NE(no_db.message.find("\"nope\" does not exist"), std::string::npos) << no_db.what();
}

TEST_F(PgConn, OptionsReachTheServerAndConninfoWins) {
    auto c = connect({.statement_timeout = std::chrono::milliseconds(1234), .application_name = "natter-test"});
    EXPECT_EQ(c.exec("SHOW statement_timeout").text(0, 0), "1234ms");
    EXPECT_EQ(c.exec("SHOW application_name").text(0, 0), "natter-test");
    EXPECT_EQ(c.exec("SHOW client_encoding").text(0, 0), "UTF8");
    // Keepalives and the user timeout are the client socket's own options.
    auto sockopt = [&](int level, int name) {
        int v = -1;
        socklen_t len = sizeof v;
        EXPECT_EQ(::getsockopt(PQsocket(c.raw()), level, name, &v, &len), 0);
        return v;
    };
    EXPECT_EQ(sockopt(SOL_SOCKET, SO_KEEPALIVE), 1);
    EXPECT_EQ(sockopt(IPPROTO_TCP, TCP_KEEPIDLE), 5);
    EXPECT_EQ(sockopt(IPPROTO_TCP, TCP_KEEPINTVL), 2);
    EXPECT_EQ(sockopt(IPPROTO_TCP, TCP_KEEPCNT), 3);
    EXPECT_EQ(sockopt(IPPROTO_TCP, TCP_USER_TIMEOUT), 10'000);
    pg::Connection mine(conninfo_ + " application_name=from-conninfo");
    EXPECT_EQ(mine.exec("SHOW application_name").text(0, 0), "from-conninfo");
}

TEST_F(PgConn, StatementTimeoutIsAStatementErrorNotABrokenConnection) {
    auto c = connect({.statement_timeout = std::chrono::milliseconds(100)});
    auto t0 = Clock::now();
    auto e = expect_pg_error(pg::ErrorKind::other, [&] { c.exec("SELECT pg_sleep(5)"); });
    EXPECT_LT(ms_since(t0), 2000);
    EXPECT_EQ(e.sqlstate, "57014");  // query_canceled
    EXPECT_FALSE(c.broken());
    EXPECT_EQ(c.exec("SELECT 2").i64(0, 0), 2);
}

TEST_F(PgConn, TransactionCommitsAndReturnsWhatFnReturns) {
    auto c = connect();
    c.exec("CREATE TABLE t (v int)");
    int n = c.transaction([](pg::Connection& tx) {
        tx.exec("INSERT INTO t VALUES (1), (2)");
        return int(tx.exec("SELECT count(*) FROM t").i64(0, 0));
    });
    EXPECT_EQ(n, 2);
    EXPECT_TRUE(c.idle());
    EXPECT_EQ(connect().exec("SELECT count(*) FROM t").i64(0, 0), 2);
    c.transaction([](pg::Connection& tx) { tx.exec("INSERT INTO t VALUES (3)"); });  // void works too
    EXPECT_EQ(connect().exec("SELECT count(*) FROM t").i64(0, 0), 3);
}

TEST_F(PgConn, TransactionRollsBackWhenFnThrows) {
    auto c = connect();
    c.exec("CREATE TABLE t (v int PRIMARY KEY)");
    EXPECT_THROW(c.transaction([](pg::Connection& tx) {
        tx.exec("INSERT INTO t VALUES (1)");
        throw std::runtime_error("changed my mind");
    }),
                 std::runtime_error);
    EXPECT_TRUE(c.idle());
    expect_pg_error(pg::ErrorKind::unique_violation, [&] {
        c.transaction([](pg::Connection& tx) {
            tx.exec("INSERT INTO t VALUES (2)");
            tx.exec("INSERT INTO t VALUES (2)");
        });
    });
    EXPECT_TRUE(c.idle());
    EXPECT_EQ(c.exec("SELECT count(*) FROM t").i64(0, 0), 0);
}

TEST_F(PgConn, ACommitAfterASwallowedErrorThrows) {
    auto c = connect();
    c.exec("CREATE TABLE t (v int PRIMARY KEY)");
    auto e = expect_pg_error(pg::ErrorKind::other, [&] {
        c.transaction([](pg::Connection& tx) {
            tx.exec("INSERT INTO t VALUES (1)");
            try {
                tx.exec("INSERT INTO t VALUES (1)");
            } catch (const pg::Error&) {
                // swallowed: the server has aborted the transaction anyway
            }
        });
    });
    EXPECT_EQ(e.sqlstate, "25P02");
    EXPECT_TRUE(c.idle());
    EXPECT_EQ(c.exec("SELECT count(*) FROM t").i64(0, 0), 0);
}

TEST_F(PgConn, NoTransactionInsideATransaction) {
    auto c = connect();
    expect_pg_error(pg::ErrorKind::other, [&] {
        c.transaction([](pg::Connection& tx) { tx.transaction([](pg::Connection&) {}); });
    });
    EXPECT_TRUE(c.idle());
}

TEST_F(PgConn, SerializableConflictIsASerializationError) {
    auto setup = connect();
    setup.exec("CREATE TABLE oncall (who text, on_duty boolean)");
    setup.exec("INSERT INTO oncall VALUES ('a', true), ('b', true)");
    auto c1 = connect();
    auto c2 = connect();
    // Write skew: each takes one off duty after seeing two on it.
    auto e = expect_pg_error(pg::ErrorKind::serialization, [&] {
        c1.transaction(
            [&](pg::Connection& tx) {
                c2.exec("BEGIN ISOLATION LEVEL SERIALIZABLE");
                EXPECT_EQ(c2.exec("SELECT count(*) FROM oncall WHERE on_duty").i64(0, 0), 2);
                EXPECT_EQ(tx.exec("SELECT count(*) FROM oncall WHERE on_duty").i64(0, 0), 2);
                c2.exec("UPDATE oncall SET on_duty = false WHERE who = 'a'");
                c2.exec("COMMIT");
                tx.exec("UPDATE oncall SET on_duty = false WHERE who = 'b'");
            },
            pg::Isolation::serializable);
    });
    EXPECT_EQ(e.sqlstate, "40001");
    EXPECT_TRUE(c1.idle());
    EXPECT_EQ(setup.exec("SELECT count(*) FROM oncall WHERE on_duty").i64(0, 0), 1);
}

TEST_F(PgConn, MovesKeepTheConnection) {
    auto a = connect();
    const int pid = a.backend_pid();
    pg::Connection b = std::move(a);
    EXPECT_EQ(b.backend_pid(), pid);
    EXPECT_TRUE(a.broken());
    expect_pg_error(pg::ErrorKind::connection, [&] { a.exec("SELECT 1"); });
    EXPECT_EQ(b.exec("SELECT 1").i64(0, 0), 1);
}

}  // namespace
}  // namespace natter::pgtest
