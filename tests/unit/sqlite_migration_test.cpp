// The SQLite store upgrades a data directory made by an earlier schema
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
    db.exec("ALTER TABLE members DROP COLUMN first_sent_seq");
    db.exec("ALTER TABLE members DROP COLUMN last_sent_seq");
    db.exec("DROP INDEX messages_media");
    db.exec("ALTER TABLE messages DROP COLUMN media_id");
    db.exec("DROP TABLE media");
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
        // Alice's message to bob, before the upgrade.
        SendRequest req;
        req.conversation_id = "d:7:8";
        req.participants = {7, 8};
        req.recipient = 8;
        req.sender = 7;
        req.client_msg_id = "00000000-0000-4000-8000-000000000700";
        req.payload_hash = "h";
        req.new_message_id = 700;
        req.to_json = "{\"user\":\"8\"}";
        req.body = "hello";
        req.ts = kNow;
        std::promise<Result<SendOutcome>> sent;
        store.commit_send(req, [&](Result<SendOutcome> r) { sent.set_value(std::move(r)); });
        ASSERT_TRUE(sent.get_future().get().ok());
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
    // Bob reads alice's old message: news to alice, whose first message the
    // upgrade found in the history.
    std::promise<Result<std::vector<ReceiptChange>>> read;
    store.mark_read(8, "d:7:8", 1, kNow + 1, [&](Result<std::vector<ReceiptChange>> r) { read.set_value(std::move(r)); });
    ASSERT_TRUE(read.get_future().get().ok());
    auto news = store.receipts_since(7, 0, 10);
    ASSERT_EQ(news.size(), 1u);
    EXPECT_EQ(news[0].user_id, 8u);
    EXPECT_EQ(news[0].read_seq, 1);
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
