#pragma once
// Tests of the libpq layer that do not stop their server share one per
// process (started on first use, stopped after the last test) and get a
// fresh database each.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "adapters/postgres/pg_conn.hpp"
#include "support/pg_server.hpp"

namespace natter::pgtest {

test::PgServer& shared_server();

class PgTest : public ::testing::Test {
protected:
    void SetUp() override;
    pg::Connection connect(const pg::ConnectOptions& options = {}) const { return pg::Connection(conninfo_, options); }
    std::string conninfo_;  // this test's own database
};

// Milliseconds since `start`.
inline long long ms_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
}

// Runs fn, expects a pg::Error of `kind`, returns it.
template <class F>
pg::Error expect_pg_error(pg::ErrorKind kind, F&& fn) {
    try {
        fn();
    } catch (const pg::Error& e) {
        EXPECT_EQ(pg::kind_name(e.kind), std::string(pg::kind_name(kind))) << e.what();
        return e;
    }
    ADD_FAILURE() << "no pg::Error thrown, expected " << pg::kind_name(kind);
    return pg::Error(pg::ErrorKind::other, "", "none thrown");
}

}  // namespace natter::pgtest
