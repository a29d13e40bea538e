// The SQLite store upgrades a data directory made by the previous schema
// version in place, and refuses one it does not know.
#include <gtest/gtest.h>

#include <future>

#include "../common/temp_dir.hpp"
#include "adapters/sqlite/sqlite_db.hpp"
#include "adapters/sqlite/sqlite_store.hpp"

namespace {

using namespace natter;

constexpr std::int64_t kNow = 1'750'000'000'000;

// Turns a current database back into the version 1 layout: no groups
// table, no receipt change times.
void downgrade_to_v1(const std::string& path) {
    sqlite::Db db(path, false);
    db.exec("DROP TABLE groups");
    db.exec("ALTER TABLE members DROP COLUMN receipt_at");
    db.exec("ALTER TABLE devices DROP COLUMN receipts_seen_at");
    db.exec("PRAGMA user_version=1");
}

TEST(SqliteMigration, AVersionOneDatabaseIsUpgradedWithItsDataKept) {
    testutil::TempDir dir;
    auto path = dir.file("natter.db");
    {
        sqlite::SqliteStore store{sqlite::SqliteConfig{path}};
        ASSERT_TRUE(store.create_user(UserRecord{7, "alice", "hash", "Alice", "", std::nullopt, kNow}).ok());
        ASSERT_TRUE(store.create_user(UserRecord{8, "bob", "hash", "Bob", "", std::nullopt, kNow}).ok());
        ASSERT_TRUE(store.open_device(8, std::nullopt, 80, "phone", kNow, 10).ok());
    }
    downgrade_to_v1(path);

    sqlite::SqliteStore store{sqlite::SqliteConfig{path}};
    ASSERT_TRUE(store.user_by_name("alice").has_value()) << "the data is kept";
    // The new tables and columns work: a group, and a receipt catch-up.
    GroupChange c;
    c.kind = GroupChange::Kind::create;
    c.group_id = 900;
    c.actor = 7;
    c.name = "after the upgrade";
    c.members = {8};
    c.max_members = 10;
    c.new_message_id = 901;
    c.client_msg_id = "00000000-0000-4000-8000-000000000901";
    c.ts = kNow;
    std::promise<Result<SendOutcome>> done;
    store.change_group(c, [&](Result<SendOutcome> r) { done.set_value(std::move(r)); });
    auto r = done.get_future().get();
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(store.group(900)->members.size(), 2u);
    EXPECT_EQ(store.receipts_seen(8, 80), 0);
    EXPECT_TRUE(store.receipts_since(8, 0, 10).empty());
}

TEST(SqliteMigration, AnUnknownVersionIsRefusedWithAClearError) {
    testutil::TempDir dir;
    auto path = dir.file("natter.db");
    { sqlite::SqliteStore store{sqlite::SqliteConfig{path}}; }
    {
        sqlite::Db db(path, false);
        db.exec("PRAGMA user_version=99");
    }
    try {
        sqlite::SqliteStore store{sqlite::SqliteConfig{path}};
        FAIL() << "a version 99 database was opened";
    } catch (const sqlite::SqliteError& e) {
        EXPECT_NE(std::string(e.what()).find("schema version 99"), std::string::npos) << e.what();
    }
}

}  // namespace
