// pg::Connection::pipeline: every statement goes out before any result is
// read (one round trip), results come back in order, the first error is
// thrown, the batch is atomic, and the connection works afterwards.
#include <libpq-fe.h>
#include <stdio.h>

#include <cstdlib>
#include <sstream>

#include "pg_fixture.hpp"

namespace natter::pgtest {
namespace {

using pg::Param;
using Clock = std::chrono::steady_clock;
using PgPipeline = PgTest;

std::vector<pg::Statement> inserts(int from, int to) {
    std::vector<pg::Statement> out;
    for (int i = from; i < to; ++i) out.push_back({"INSERT INTO p VALUES ($1) RETURNING v", {Param::i64(i)}});
    return out;
}

// The protocol messages libpq sends (F) and receives (B), in order, while fn runs.
template <class F>
std::vector<char> traced(pg::Connection& c, F&& fn) {
    char* buf = nullptr;
    size_t len = 0;
    FILE* f = ::open_memstream(&buf, &len);
    PQtrace(c.raw(), f);
    PQsetTraceFlags(c.raw(), PQTRACE_SUPPRESS_TIMESTAMPS);
    fn();
    PQuntrace(c.raw());
    ::fclose(f);
    std::istringstream lines(std::string(buf, len));
    std::free(buf);
    std::vector<char> directions;
    for (std::string line; std::getline(lines, line);)
        if (!line.empty() && (line[0] == 'F' || line[0] == 'B')) directions.push_back(line[0]);
    return directions;
}

// Turns in the conversation: FFFFBBBB is one round trip, FBFBFB three.
int round_trips(const std::vector<char>& directions) {
    int trips = 0;
    for (std::size_t i = 0; i < directions.size(); ++i)
        if (directions[i] == 'F' && (i == 0 || directions[i - 1] == 'B')) ++trips;
    return trips;
}

TEST_F(PgPipeline, ResultsComeBackInOrder) {
    auto c = connect();
    c.exec("CREATE TABLE p (v int PRIMARY KEY)");
    std::vector<pg::Statement> batch = inserts(0, 20);
    batch.push_back({"SELECT count(*), sum(v) FROM p", {}});
    batch.push_back({"SELECT $1::text || $2::text", {Param::text("pipe"), Param::text("line")}});
    auto results = c.pipeline(batch);
    ASSERT_EQ(results.size(), 22u);
    for (int i = 0; i < 20; ++i) EXPECT_EQ(results[i].i64(0, 0), i);
    EXPECT_EQ(results[20].i64(0, 0), 20);
    EXPECT_EQ(results[20].i64(0, 1), 190);
    EXPECT_EQ(results[21].text(0, 0), "pipeline");
    EXPECT_TRUE(c.idle());
    EXPECT_TRUE(c.pipeline({}).empty());
}

TEST_F(PgPipeline, IsOneRoundTrip) {
    auto c = connect();
    c.exec("CREATE TABLE p (v int PRIMARY KEY)");
    auto piped = traced(c, [&] { c.pipeline(inserts(0, 50)); });
    auto one_by_one = traced(c, [&] {
        for (auto& s : inserts(50, 100)) c.exec(s.sql, s.params);
    });
    ASSERT_FALSE(piped.empty());
    EXPECT_EQ(round_trips(piped), 1) << std::string(piped.begin(), piped.end());
    EXPECT_EQ(round_trips(one_by_one), 50);
    EXPECT_EQ(c.exec("SELECT count(*) FROM p").i64(0, 0), 100);
}

TEST_F(PgPipeline, AFailureInTheMiddleThrowsItAndUndoesTheBatch) {
    auto c = connect();
    c.exec("CREATE TABLE p (v int PRIMARY KEY)");
    c.exec("INSERT INTO p VALUES (1000)");
    auto batch = inserts(0, 5);
    batch.push_back({"INSERT INTO p VALUES ($1)", {Param::i64(1000)}});  // a duplicate
    batch.push_back({"SELEKT 'never parsed'", {}});                      // skipped, not reported
    auto more = inserts(5, 10);
    batch.insert(batch.end(), more.begin(), more.end());

    auto e = expect_pg_error(pg::ErrorKind::unique_violation, [&] { c.pipeline(batch); });
    EXPECT_EQ(e.sqlstate, "23505");
    EXPECT_FALSE(c.broken());
    EXPECT_TRUE(c.idle());
    // One implicit transaction: the five before the failure are gone too.
    EXPECT_EQ(c.exec("SELECT count(*) FROM p").i64(0, 0), 1);
    // And the connection pipelines again.
    auto ok = c.pipeline(inserts(0, 3));
    EXPECT_EQ(ok.size(), 3u);
    EXPECT_EQ(c.exec("SELECT count(*) FROM p").i64(0, 0), 4);
}

TEST_F(PgPipeline, ExplicitTransactionsInsideAPipeline) {
    auto c = connect();
    c.exec("CREATE TABLE p (v int PRIMARY KEY)");
    auto results = c.pipeline({{"BEGIN", {}},
                               {"INSERT INTO p VALUES (1)", {}},
                               {"SELECT count(*) FROM p", {}},
                               {"COMMIT", {}}});
    EXPECT_EQ(results[2].i64(0, 0), 1);
    EXPECT_EQ(results[3].status(), "COMMIT");
    EXPECT_TRUE(c.idle());
}

TEST_F(PgPipeline, InsideATransaction) {
    auto c = connect();
    c.exec("CREATE TABLE p (v int PRIMARY KEY)");
    EXPECT_THROW(c.transaction([](pg::Connection& tx) {
        tx.pipeline(inserts(0, 10));
        EXPECT_EQ(tx.exec("SELECT count(*) FROM p").i64(0, 0), 10);
        throw std::runtime_error("undo");
    }),
                 std::runtime_error);
    EXPECT_EQ(c.exec("SELECT count(*) FROM p").i64(0, 0), 0);
    c.transaction([](pg::Connection& tx) { tx.pipeline(inserts(0, 10)); });
    EXPECT_EQ(c.exec("SELECT count(*) FROM p").i64(0, 0), 10);
}

TEST_F(PgPipeline, ABigBatchDoesNotDeadlock) {
    // Results larger than the socket buffers while the statements are still
    // being sent: the sender must read as it writes.
    auto c = connect();
    std::vector<pg::Statement> batch;
    const std::string filler(1000, 'x');  // 2 MB out, 20 MB back
    for (int i = 0; i < 2000; ++i) batch.push_back({"SELECT repeat($1, 10), $2::int", {Param::text(filler), Param::i64(i)}});
    auto t0 = Clock::now();
    auto results = c.pipeline(batch);
    std::printf("[ timing ] pipeline of 2000 statements sending 2 MB, receiving 20 MB: %lld ms\n", ms_since(t0));
    ASSERT_EQ(results.size(), 2000u);
    EXPECT_EQ(results[1999].i64(0, 1), 1999);
    EXPECT_EQ(results[0].text(0, 0).size(), 10'000u);
}

TEST_F(PgPipeline, TimingAgainstOneByOne) {
    auto c = connect();
    c.exec("CREATE TABLE p (v int PRIMARY KEY)");
    constexpr int kN = 1000;
    auto t0 = Clock::now();
    for (auto& s : inserts(0, kN)) c.exec(s.sql, s.params);
    auto serial = ms_since(t0);
    t0 = Clock::now();
    c.pipeline(inserts(kN, 2 * kN));
    auto piped = ms_since(t0);
    std::printf("[ timing ] %d inserts over loopback: one by one %lld ms, one pipeline %lld ms\n", kN, serial, piped);
    EXPECT_EQ(c.exec("SELECT count(*) FROM p").i64(0, 0), 2 * kN);
}

}  // namespace
}  // namespace natter::pgtest
