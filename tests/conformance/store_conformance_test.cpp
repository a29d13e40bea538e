// The store conformance suite: what the service relies on from UserStore,
// DeviceStore, MessageStore, InboxStore, GroupStore and ReceiptStore. Every store adapter must pass it
// unchanged; to add one, write a factory and add it to kStores at the end.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../common/temp_dir.hpp"
#include "adapters/postgres/pg_store.hpp"
#include "adapters/sqlite/sqlite_store.hpp"
#include "core/conversation.hpp"
#include "ports/store.hpp"
#include "support/pg_server.hpp"

namespace {

using namespace natter;
using Kind = RefreshOutcome::Kind;

constexpr auto kDeadline = std::chrono::seconds(10);
constexpr std::int64_t kNow = 1'750'000'000'000;
constexpr std::size_t kManyDevices = 100;

// ---- the stores under test

// A store adapter with everything it needs (files, connections), and its ports.
struct StoreUnderTest {
    virtual ~StoreUnderTest() = default;
    Stores ports;
};

struct StoreFactory {
    std::string name;
    std::function<std::unique_ptr<StoreUnderTest>()> make;
};

class SqliteUnderTest final : public StoreUnderTest {
public:
    SqliteUnderTest() { ports = store_.ports(); }

private:
    testutil::TempDir dir_;  // declared first: outlives the store
    sqlite::SqliteStore store_{sqlite::SqliteConfig{dir_.file("natter.db")}};
};

void PrintTo(const StoreFactory& f, std::ostream* os) { *os << f.name; }

const StoreFactory kSqlite{"sqlite", [] { return std::make_unique<SqliteUnderTest>(); }};

// PostgreSQL: three servers for the whole process, started on first use
// from the test thread; each test gets fresh databases, one per shard, so
// the rows of a one-shard store and of a three-shard store (users,
// conversations and names on different servers) start from nothing.
std::vector<std::unique_ptr<test::PgServer>>& pg_servers() {
    static auto servers = test::PgServer::start_many(3);
    return servers;
}

class PgUnderTest final : public StoreUnderTest {
public:
    explicit PgUnderTest(std::size_t shards) {
        static std::atomic<int> made{0};
        int n = ++made;
        pg::PgStoreConfig config;
        for (std::size_t i = 0; i < shards; ++i) {
            auto db = "conformance_" + std::to_string(n) + "_" + std::to_string(i);
            config.shards.push_back({"pg-" + std::to_string(i + 1), pg_servers().at(i)->create_database(db)});
        }
        store_ = std::make_unique<pg::PgStore>(std::move(config));
        ports = store_->ports();
    }

private:
    std::unique_ptr<pg::PgStore> store_;
};

const StoreFactory kPg1{"postgres_1_shard", [] { return std::make_unique<PgUnderTest>(1); }};
const StoreFactory kPg3{"postgres_3_shards", [] { return std::make_unique<PgUnderTest>(3); }};

// ---- helpers

// Waits for an adapter's callback, failing the test instead of hanging.
template <class T>
T await(std::future<T> f) {
    if (f.wait_for(kDeadline) != std::future_status::ready)
        throw std::runtime_error("the store's callback did not come within the deadline");
    return f.get();
}

// Polls a condition the adapter makes true in the background (no sleeping).
bool eventually(const std::function<bool()>& condition) {
    auto until = std::chrono::steady_clock::now() + kDeadline;
    while (!condition()) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::yield();
    }
    return true;
}

std::string uuid(std::uint64_t n) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012llu", static_cast<unsigned long long>(n));
    return buf;
}

std::vector<MessageId> message_ids(const std::vector<InboxItem>& items) {
    std::vector<MessageId> out;
    for (const auto& i : items) out.push_back(i.message.message_id);
    return out;
}

class StoreConformance : public ::testing::TestWithParam<StoreFactory> {
protected:
    void SetUp() override {
        sut_ = GetParam().make();
        users_ = sut_->ports.users;
        devices_ = sut_->ports.devices;
        messages_ = sut_->ports.messages;
        inbox_ = sut_->ports.inbox;
        groups_ = sut_->ports.groups;
        receipts_ = sut_->ports.receipts;
    }
    void TearDown() override { sut_.reset(); }

    GroupChange group_change(GroupChange::Kind kind, std::uint64_t group_id, UserId actor, UserId user = 0) {
        GroupChange c;
        c.kind = kind;
        c.group_id = group_id;
        c.actor = actor;
        c.actor_device = 0;
        c.user = user;
        c.max_members = 5;
        c.new_message_id = next_id();
        c.client_msg_id = uuid(c.new_message_id);
        c.ts = kNow + std::int64_t(c.new_message_id);
        return c;
    }

    Result<SendOutcome> change(GroupChange c) {
        auto p = std::make_shared<std::promise<Result<SendOutcome>>>();
        auto f = p->get_future();
        groups_->change_group(std::move(c), [p](Result<SendOutcome> r) { p->set_value(std::move(r)); });
        return await(std::move(f));
    }

    // `actor` creates a group with `members`; its id.
    std::uint64_t create_group(UserId actor, std::vector<UserId> members) {
        auto c = group_change(GroupChange::Kind::create, next_id(), actor);
        c.name = "group";
        c.members = std::move(members);
        auto id = c.group_id;
        auto r = change(std::move(c));
        if (!r.ok()) throw std::runtime_error("create failed: " + r.error().message);
        return id;
    }

    SendRequest to_group(UserId from, DeviceId device, std::uint64_t group_id) {
        auto req = direct(from, device, from);
        req.conversation_id = group_conversation(group_id).str();
        req.group = true;
        req.participants.clear();
        req.recipient = 0;
        req.to_json = "{\"group\":\"" + id_string(group_id) + "\"}";
        return req;
    }

    Result<std::vector<ReceiptChange>> mark_read(UserId user, const std::string& conv, std::int64_t seq,
                                                 std::int64_t now = kNow) {
        auto p = std::make_shared<std::promise<Result<std::vector<ReceiptChange>>>>();
        auto f = p->get_future();
        receipts_->mark_read(user, conv, seq, now, [p](Result<std::vector<ReceiptChange>> r) { p->set_value(std::move(r)); });
        return await(std::move(f));
    }

    std::uint64_t next_id() { return ++last_id_; }

    UserRecord user_record(const std::string& name) {
        UserRecord u;
        u.user_id = next_id();
        u.username = name;
        u.password_hash = "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA";
        u.display_name = "Display " + name;
        u.description = "about " + name;
        u.created_at = kNow;
        return u;
    }

    UserId add_user(const std::string& name) {
        auto u = user_record(name);
        auto r = users_->create_user(u);
        EXPECT_TRUE(r.ok()) << r.error().message;
        return u.user_id;
    }

    DeviceId add_device(UserId user) {
        auto r = devices_->open_device(user, std::nullopt, next_id(), "device", kNow, kManyDevices);
        EXPECT_TRUE(r.ok()) << r.error().message;
        return r.ok() ? r->device_id : 0;
    }

    // A text message in the direct chat of `from` and `to` (or with oneself).
    SendRequest direct(UserId from, DeviceId device, UserId to) {
        SendRequest req;
        req.conversation_id = direct_conversation(from, to).str();
        req.participants = from == to ? std::vector<UserId>{from} : std::vector<UserId>{from, to};
        req.recipient = to;
        req.sender = from;
        req.sender_device = device;
        auto n = next_id();
        req.client_msg_id = uuid(n);
        req.payload_hash = "hash-" + std::to_string(n);
        req.new_message_id = next_id();
        req.to_json = "{\"user\":\"" + id_string(to) + "\"}";
        req.body = "hello " + std::to_string(n);
        req.ts = kNow + std::int64_t(n);
        return req;
    }

    std::future<Result<SendOutcome>> send_async(SendRequest req) {
        auto p = std::make_shared<std::promise<Result<SendOutcome>>>();
        auto f = p->get_future();
        messages_->commit_send(std::move(req), [p](Result<SendOutcome> r) { p->set_value(std::move(r)); });
        return f;
    }

    Result<SendOutcome> send(SendRequest req) { return await(send_async(std::move(req))); }

    // Sends and expects success.
    SendOutcome sent(SendRequest req) {
        auto r = send(std::move(req));
        if (!r.ok()) throw std::runtime_error("commit_send failed: " + r.error().message);
        return r.value();
    }

    AckOutcome ack_outcome(UserId user, DeviceId device, std::vector<MessageId> ids, std::int64_t now = kNow) {
        auto p = std::make_shared<std::promise<AckOutcome>>();
        auto f = p->get_future();
        inbox_->ack(user, device, std::move(ids), now, [p](AckOutcome o) { p->set_value(std::move(o)); });
        return await(std::move(f));
    }

    std::size_t ack(UserId user, DeviceId device, std::vector<MessageId> ids) {
        return ack_outcome(user, device, std::move(ids)).removed;
    }

    std::vector<InboxItem> inbox(UserId user, DeviceId device, InboxId after = 0, std::size_t limit = 1000) {
        return inbox_->read_inbox(user, device, after, limit);
    }

    std::unique_ptr<StoreUnderTest> sut_;
    UserStore* users_ = nullptr;
    DeviceStore* devices_ = nullptr;
    MessageStore* messages_ = nullptr;
    InboxStore* inbox_ = nullptr;
    GroupStore* groups_ = nullptr;
    ReceiptStore* receipts_ = nullptr;
    std::atomic<std::uint64_t> last_id_{1000};
};

void expect_error_code(const Error& e, Code want) { EXPECT_EQ(code_name(e.code), std::string(code_name(want))) << e.message; }

// ---- UserStore

TEST_P(StoreConformance, CreatedUserIsFoundByIdAndName) {
    auto u = user_record("alice");
    u.avatar_media_id = std::nullopt;
    ASSERT_TRUE(users_->create_user(u).ok());
    for (auto found : {users_->user_by_id(u.user_id), users_->user_by_name("alice")}) {
        ASSERT_TRUE(found.has_value());
        EXPECT_EQ(found->user_id, u.user_id);
        EXPECT_EQ(found->username, "alice");
        EXPECT_EQ(found->password_hash, u.password_hash);
        EXPECT_EQ(found->display_name, u.display_name);
        EXPECT_EQ(found->description, u.description);
        EXPECT_EQ(found->avatar_media_id, std::nullopt);
        EXPECT_EQ(found->created_at, kNow);
    }
    EXPECT_FALSE(users_->user_by_id(u.user_id + 1).has_value());
    EXPECT_FALSE(users_->user_by_name("alicia").has_value());
}

TEST_P(StoreConformance, CreateUserConflictsOnATakenUsername) {
    auto first = add_user("alice");
    auto r = users_->create_user(user_record("alice"));
    ASSERT_FALSE(r.ok());
    expect_error_code(r.error(), Code::conflict);
    EXPECT_EQ(users_->user_by_name("alice")->user_id, first);
}

TEST_P(StoreConformance, UpdateProfileChangesOnlyThePatchedFields) {
    auto id = add_user("alice");
    ProfilePatch name_only;
    name_only.display_name = "Alice A.";
    auto r = users_->update_profile(id, name_only);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->display_name, "Alice A.");
    EXPECT_EQ(r->description, "about alice");

    ProfilePatch avatar;
    avatar.avatar_media_id = std::optional<std::uint64_t>(77);
    avatar.description = "new";
    ASSERT_TRUE(users_->update_profile(id, avatar).ok());
    auto stored = users_->user_by_id(id);
    EXPECT_EQ(stored->display_name, "Alice A.");
    EXPECT_EQ(stored->description, "new");
    EXPECT_EQ(stored->avatar_media_id, std::optional<std::uint64_t>(77));

    ProfilePatch clear;
    clear.avatar_media_id = std::optional<std::uint64_t>();
    ASSERT_TRUE(users_->update_profile(id, clear).ok());
    EXPECT_EQ(users_->user_by_id(id)->avatar_media_id, std::nullopt);
}

TEST_P(StoreConformance, UpdateProfileOfAnUnknownUserIsNotFound) {
    ProfilePatch p;
    p.display_name = "ghost";
    auto r = users_->update_profile(424242, p);
    ASSERT_FALSE(r.ok());
    expect_error_code(r.error(), Code::not_found);
}

TEST_P(StoreConformance, DeleteUserTakesTheAccountItsCredentialsInboxAndMediaAndFreesTheName) {
    auto media = sut_->ports.media;
    auto alice = add_user("alice"), bob = add_user("bob");
    auto a1 = add_device(alice), a2 = add_device(alice), b1 = add_device(bob);
    devices_->add_refresh_token(alice, a1, "a1-refresh", kNow + 60'000);
    devices_->add_ticket(alice, a2, "a2-ticket", kNow + 30'000);
    MediaRecord photo{next_id(), alice, "image/png", 10, "m/photo", kNow};
    ASSERT_TRUE(media->add_media(photo, 1 << 20).ok());
    media->mark_verified(photo.media_id);
    ASSERT_TRUE(media->set_avatar(alice, photo.media_id, kNow).ok());
    auto from_alice = sent(direct(alice, a1, bob));
    sent(direct(bob, b1, alice));
    ASSERT_EQ(inbox(alice, a1).size(), 1u);

    ASSERT_TRUE(users_->delete_user(alice, kNow).ok());

    EXPECT_FALSE(users_->user_by_id(alice).has_value());
    EXPECT_FALSE(users_->user_by_name("alice").has_value());
    EXPECT_TRUE(users_->user_deleted(alice));
    EXPECT_FALSE(users_->user_deleted(bob));
    EXPECT_TRUE(devices_->devices(alice).empty());
    EXPECT_FALSE(devices_->device(alice, a1).has_value());
    EXPECT_EQ(devices_->rotate_refresh_token(alice, "a1-refresh", "next", kNow + 60'000, kNow).kind, Kind::unknown);
    EXPECT_FALSE(devices_->take_ticket(alice, "a2-ticket", kNow).has_value());
    EXPECT_TRUE(inbox(alice, a1).empty());
    EXPECT_TRUE(inbox(alice, a2).empty());
    EXPECT_FALSE(media->media(photo.media_id).has_value());
    EXPECT_EQ(media->blob_trash(10), std::vector<std::string>{"m/photo"});
    EXPECT_TRUE(users_->unfinished_deletions(10).empty());

    // What she sent stays in the conversation, under her id.
    auto h = sut_->ports.conversations->history(from_alice.message.conversation_id, 1, 0, 10);
    ASSERT_EQ(h.size(), 2u);
    EXPECT_EQ(h[1].from_user, alice);
    EXPECT_EQ(h[1].message_id, from_alice.message.message_id);
    EXPECT_EQ(inbox(bob, b1).size(), 1u) << "bob's copy waits for bob";

    // No device can be opened for her, nothing sent to her; the name is free.
    expect_error_code(devices_->open_device(alice, std::nullopt, next_id(), "d", kNow, kManyDevices).error(),
                      Code::not_found);
    expect_error_code(send(direct(bob, b1, alice)).error(), Code::not_found);
    auto again = add_user("alice");
    EXPECT_EQ(users_->user_by_name("alice")->user_id, again);
    EXPECT_TRUE(users_->user_deleted(alice));
}

TEST_P(StoreConformance, DeleteUserIsIdempotentAndKnowsOnlyRealUsers) {
    auto alice = add_user("alice");
    add_device(alice);
    ASSERT_TRUE(users_->delete_user(alice, kNow).ok());
    EXPECT_TRUE(users_->delete_user(alice, kNow + 1).ok()) << "a retry finds the work done";
    EXPECT_TRUE(users_->user_deleted(alice));
    expect_error_code(users_->delete_user(424242, kNow).error(), Code::not_found);
    EXPECT_FALSE(users_->user_deleted(424242));
    // Another user's things are untouched.
    auto bob = add_user("bob");
    auto b1 = add_device(bob);
    ASSERT_TRUE(users_->delete_user(add_user("carol"), kNow).ok());
    EXPECT_TRUE(devices_->device(bob, b1).has_value());
    EXPECT_EQ(users_->user_by_name("bob")->user_id, bob);
}

// ---- DeviceStore: devices

TEST_P(StoreConformance, OpenDeviceAddsANewDevice) {
    auto alice = add_user("alice");
    auto r = devices_->open_device(alice, std::nullopt, 5555, "phone", kNow, kManyDevices);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->user_id, alice);
    EXPECT_EQ(r->device_id, 5555u);
    EXPECT_EQ(r->device_name, "phone");
    EXPECT_EQ(r->generation, 0);
    EXPECT_EQ(r->created_at, kNow);
    EXPECT_EQ(r->last_seen, kNow);
    auto stored = devices_->device(alice, 5555);
    ASSERT_TRUE(stored.has_value());
    EXPECT_EQ(stored->device_name, "phone");
}

TEST_P(StoreConformance, OpenDeviceReusesAnExistingDevice) {
    auto alice = add_user("alice");
    auto phone = add_device(alice);
    auto r = devices_->open_device(alice, phone, next_id(), "phone", kNow + 5000, kManyDevices);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->device_id, phone);
    EXPECT_EQ(r->last_seen, kNow + 5000);
    EXPECT_EQ(devices_->devices(alice).size(), 1u);
    EXPECT_EQ(devices_->device(alice, phone)->last_seen, kNow + 5000);
}

TEST_P(StoreConformance, OpenDeviceWithAnUnknownOrForeignDeviceIdAddsANewDevice) {
    auto alice = add_user("alice");
    auto bob = add_user("bob");
    auto bobs = add_device(bob);
    for (DeviceId d : {DeviceId(424242), bobs}) {
        auto fresh = next_id();
        auto r = devices_->open_device(alice, d, fresh, "x", kNow, kManyDevices);
        ASSERT_TRUE(r.ok()) << r.error().message;
        EXPECT_EQ(r->device_id, fresh);
        EXPECT_EQ(r->user_id, alice);
    }
    EXPECT_EQ(devices_->devices(alice).size(), 2u);
    EXPECT_EQ(devices_->devices(bob).size(), 1u) << "bob's device must stay bob's";
}

TEST_P(StoreConformance, OpenDevicePastTheLimitIsAConflict) {
    auto alice = add_user("alice");
    auto open_new = [&](UserId u) { return devices_->open_device(u, std::nullopt, next_id(), "d", kNow, 2); };
    auto first = open_new(alice);
    ASSERT_TRUE(first.ok());
    ASSERT_TRUE(open_new(alice).ok());
    auto third = open_new(alice);
    ASSERT_FALSE(third.ok());
    expect_error_code(third.error(), Code::conflict);
    EXPECT_EQ(devices_->devices(alice).size(), 2u);
    // Reusing a device at the limit is fine, and other users have their own count.
    EXPECT_TRUE(devices_->open_device(alice, first->device_id, next_id(), "d", kNow, 2).ok());
    EXPECT_TRUE(open_new(add_user("bob")).ok());
}

TEST_P(StoreConformance, DevicesListsOnlyTheUsersOwnDevices) {
    auto alice = add_user("alice");
    auto bob = add_user("bob");
    std::set<DeviceId> alices{add_device(alice), add_device(alice), add_device(alice)};
    auto bobs = add_device(bob);
    std::set<DeviceId> listed;
    for (const auto& d : devices_->devices(alice)) {
        EXPECT_EQ(d.user_id, alice);
        listed.insert(d.device_id);
    }
    EXPECT_EQ(listed, alices);
    EXPECT_FALSE(devices_->device(alice, bobs).has_value());
    EXPECT_TRUE(devices_->device(bob, bobs).has_value());
    EXPECT_TRUE(devices_->devices(add_user("carol")).empty());
}

TEST_P(StoreConformance, TouchDeviceUpdatesLastSeen) {
    auto alice = add_user("alice");
    auto phone = add_device(alice);
    devices_->touch_device(alice, phone, kNow + 60'000);
    EXPECT_TRUE(eventually([&] { return devices_->device(alice, phone)->last_seen == kNow + 60'000; }));
}

TEST_P(StoreConformance, RemoveDeviceDropsItsInboxAndTokens) {
    auto alice = add_user("alice");
    auto bob = add_user("bob");
    auto a1 = add_device(alice);
    auto b1 = add_device(bob), b2 = add_device(bob);
    devices_->add_refresh_token(bob, b1, "b1-refresh", kNow + 3'600'000);
    devices_->add_ticket(bob, b1, "b1-ticket", kNow + 30'000);
    sent(direct(alice, a1, bob));
    ASSERT_EQ(inbox_->inbox_depth(bob, b1), 1u);

    EXPECT_TRUE(devices_->remove_device(bob, b1));
    EXPECT_FALSE(devices_->device(bob, b1).has_value());
    EXPECT_EQ(inbox_->inbox_depth(bob, b1), 0u);
    EXPECT_TRUE(inbox(bob, b1).empty());
    EXPECT_EQ(devices_->rotate_refresh_token(bob, "b1-refresh", "next", kNow + 1, kNow).kind, Kind::unknown);
    EXPECT_FALSE(devices_->take_ticket(bob, "b1-ticket", kNow).has_value());
    // The user's other device keeps its messages.
    EXPECT_EQ(inbox_->inbox_depth(bob, b2), 1u);
    EXPECT_FALSE(devices_->remove_device(bob, b1));
}

TEST_P(StoreConformance, RevokeDeviceBumpsTheGenerationAndDropsItsTokens) {
    auto alice = add_user("alice");
    auto phone = add_device(alice);
    devices_->add_refresh_token(alice, phone, "refresh", kNow + 3'600'000);
    devices_->add_ticket(alice, phone, "ticket", kNow + 30'000);
    EXPECT_TRUE(devices_->revoke_device(alice, phone));
    EXPECT_EQ(devices_->device(alice, phone)->generation, 1);
    EXPECT_EQ(devices_->rotate_refresh_token(alice, "refresh", "next", kNow + 1, kNow).kind, Kind::unknown);
    EXPECT_FALSE(devices_->take_ticket(alice, "ticket", kNow).has_value());
    EXPECT_TRUE(devices_->revoke_device(alice, phone));
    EXPECT_EQ(devices_->device(alice, phone)->generation, 2);
    EXPECT_EQ(devices_->devices(alice).size(), 1u);  // revoked, not removed
    EXPECT_FALSE(devices_->revoke_device(alice, 424242));
}

// ---- DeviceStore: refresh tokens

TEST_P(StoreConformance, RefreshTokenRotates) {
    auto alice = add_user("alice");
    auto phone = add_device(alice);
    devices_->add_refresh_token(alice, phone, "t1", kNow + 3'600'000);
    auto out = devices_->rotate_refresh_token(alice, "t1", "t2", kNow + 7'200'000, kNow + 1000);
    ASSERT_EQ(out.kind, Kind::rotated);
    EXPECT_EQ(out.device.user_id, alice);
    EXPECT_EQ(out.device.device_id, phone);
    EXPECT_EQ(out.device.generation, 0);
    EXPECT_EQ(devices_->rotate_refresh_token(alice, "t2", "t3", kNow + 7'200'000, kNow + 2000).kind, Kind::rotated);
    EXPECT_EQ(devices_->device(alice, phone)->generation, 0);
}

TEST_P(StoreConformance, ReplayingASpentRefreshTokenRevokesItsDevice) {
    auto alice = add_user("alice");
    auto phone = add_device(alice), laptop = add_device(alice);
    devices_->add_refresh_token(alice, phone, "t1", kNow + 3'600'000);
    devices_->add_refresh_token(alice, phone, "phone-other", kNow + 3'600'000);
    devices_->add_refresh_token(alice, laptop, "laptop", kNow + 3'600'000);
    ASSERT_EQ(devices_->rotate_refresh_token(alice, "t1", "t2", kNow + 3'600'000, kNow).kind, Kind::rotated);

    auto replay = devices_->rotate_refresh_token(alice, "t1", "t3", kNow + 3'600'000, kNow);
    ASSERT_EQ(replay.kind, Kind::replayed);
    EXPECT_EQ(replay.device.device_id, phone);
    EXPECT_EQ(replay.device.generation, 1);
    EXPECT_EQ(devices_->device(alice, phone)->generation, 1);
    // Every other refresh token of that device is gone, the stolen one's successor included.
    EXPECT_EQ(devices_->rotate_refresh_token(alice, "t2", "x", kNow + 1, kNow).kind, Kind::unknown);
    EXPECT_EQ(devices_->rotate_refresh_token(alice, "t3", "x", kNow + 1, kNow).kind, Kind::unknown);
    EXPECT_EQ(devices_->rotate_refresh_token(alice, "phone-other", "x", kNow + 1, kNow).kind, Kind::unknown);
    // The user's other device is untouched.
    EXPECT_EQ(devices_->device(alice, laptop)->generation, 0);
    EXPECT_EQ(devices_->rotate_refresh_token(alice, "laptop", "laptop2", kNow + 1, kNow).kind, Kind::rotated);
}

TEST_P(StoreConformance, UnknownRefreshTokenIsUnknown) {
    auto alice = add_user("alice");
    auto bob = add_user("bob");
    devices_->add_refresh_token(alice, add_device(alice), "alices", kNow + 3'600'000);
    EXPECT_EQ(devices_->rotate_refresh_token(alice, "nope", "x", kNow + 1, kNow).kind, Kind::unknown);
    // A token is only found under its own user.
    EXPECT_EQ(devices_->rotate_refresh_token(bob, "alices", "x", kNow + 1, kNow).kind, Kind::unknown);
    EXPECT_EQ(devices_->rotate_refresh_token(alice, "alices", "x", kNow + 1, kNow).kind, Kind::rotated);
}

TEST_P(StoreConformance, ExpiredRefreshTokenIsUnknown) {
    auto alice = add_user("alice");
    auto phone = add_device(alice);
    devices_->add_refresh_token(alice, phone, "old", kNow);
    devices_->add_refresh_token(alice, phone, "fresh", kNow + 1);
    EXPECT_EQ(devices_->rotate_refresh_token(alice, "old", "x", kNow + 1, kNow).kind, Kind::unknown);
    EXPECT_EQ(devices_->rotate_refresh_token(alice, "fresh", "y", kNow + 1, kNow).kind, Kind::rotated);
    EXPECT_EQ(devices_->device(alice, phone)->generation, 0);
}

// ---- DeviceStore: WebSocket tickets

TEST_P(StoreConformance, TicketIsSingleUse) {
    auto alice = add_user("alice");
    auto phone = add_device(alice);
    devices_->add_ticket(alice, phone, "ticket", kNow + 30'000);
    EXPECT_EQ(devices_->take_ticket(alice, "ticket", kNow), std::optional<DeviceId>(phone));
    EXPECT_EQ(devices_->take_ticket(alice, "ticket", kNow), std::nullopt);
    EXPECT_EQ(devices_->take_ticket(alice, "never-issued", kNow), std::nullopt);
}

TEST_P(StoreConformance, TicketExpires) {
    auto alice = add_user("alice");
    auto phone = add_device(alice);
    devices_->add_ticket(alice, phone, "ticket", kNow + 30'000);
    EXPECT_EQ(devices_->take_ticket(alice, "ticket", kNow + 30'000), std::nullopt);
}

TEST_P(StoreConformance, TicketIsOnlyValidForItsUser) {
    auto alice = add_user("alice");
    auto bob = add_user("bob");
    devices_->add_ticket(alice, add_device(alice), "ticket", kNow + 30'000);
    EXPECT_EQ(devices_->take_ticket(bob, "ticket", kNow), std::nullopt);
}

// ---- MessageStore

TEST_P(StoreConformance, SeqCountsOneTwoThreeAndChainsPrevMessageId) {
    auto alice = add_user("alice");
    auto bob = add_user("bob");
    auto a1 = add_device(alice);
    MessageId prev = 0;
    for (std::int64_t seq = 1; seq <= 3; ++seq) {
        auto req = direct(alice, a1, bob);
        auto out = sent(req);
        EXPECT_FALSE(out.duplicate);
        EXPECT_EQ(out.message.seq, seq);
        EXPECT_EQ(out.message.prev_message_id, prev);
        EXPECT_EQ(out.message.message_id, req.new_message_id);
        EXPECT_EQ(out.message.conversation_id, req.conversation_id);
        EXPECT_EQ(out.message.client_msg_id, req.client_msg_id);
        EXPECT_EQ(out.message.from_user, alice);
        EXPECT_EQ(out.message.from_device, a1);
        EXPECT_EQ(out.message.body, req.body);
        EXPECT_EQ(out.message.ts, req.ts);
        prev = out.message.message_id;
    }
    // Both sides of a direct chat share the one sequence.
    auto reply = sent(direct(bob, add_device(bob), alice));
    EXPECT_EQ(reply.message.seq, 4);
    EXPECT_EQ(reply.message.prev_message_id, prev);
}

TEST_P(StoreConformance, EachConversationHasItsOwnSequence) {
    auto alice = add_user("alice"), bob = add_user("bob"), carol = add_user("carol");
    auto a1 = add_device(alice);
    EXPECT_EQ(sent(direct(alice, a1, bob)).message.seq, 1);
    EXPECT_EQ(sent(direct(alice, a1, bob)).message.seq, 2);
    auto to_carol = sent(direct(alice, a1, carol));
    EXPECT_EQ(to_carol.message.seq, 1);
    EXPECT_EQ(to_carol.message.prev_message_id, 0u);
    EXPECT_EQ(sent(direct(alice, a1, alice)).message.seq, 1);
    EXPECT_EQ(sent(direct(alice, a1, bob)).message.seq, 3);
}

TEST_P(StoreConformance, ARetryWithTheSamePayloadIsADuplicate) {
    auto alice = add_user("alice"), bob = add_user("bob");
    auto a1 = add_device(alice), b1 = add_device(bob);
    auto req = direct(alice, a1, bob);
    auto first = sent(req);

    auto retry = req;
    retry.new_message_id = next_id();  // the service makes a fresh id for every attempt
    auto again = sent(retry);
    EXPECT_TRUE(again.duplicate);
    EXPECT_EQ(again.message.message_id, first.message.message_id);
    EXPECT_EQ(again.message.seq, first.message.seq);
    EXPECT_EQ(again.message.prev_message_id, first.message.prev_message_id);
    EXPECT_EQ(inbox_->inbox_depth(bob, b1), 1u);
    // The retry took no seq.
    EXPECT_EQ(sent(direct(alice, a1, bob)).message.seq, 2);
}

TEST_P(StoreConformance, TheSameClientMsgIdWithAnotherPayloadIsAConflict) {
    auto alice = add_user("alice"), bob = add_user("bob");
    auto a1 = add_device(alice), b1 = add_device(bob);
    auto req = direct(alice, a1, bob);
    sent(req);
    auto other = direct(alice, a1, bob);
    other.client_msg_id = req.client_msg_id;
    auto r = send(other);
    ASSERT_FALSE(r.ok());
    expect_error_code(r.error(), Code::conflict);
    EXPECT_EQ(inbox_->inbox_depth(bob, b1), 1u);
    EXPECT_EQ(sent(direct(alice, a1, bob)).message.seq, 2);
}

TEST_P(StoreConformance, DedupeIsPerSender) {
    auto alice = add_user("alice"), bob = add_user("bob");
    auto a1 = add_device(alice), b1 = add_device(bob);
    auto from_alice = direct(alice, a1, bob);
    sent(from_alice);
    auto from_bob = direct(bob, b1, alice);
    from_bob.client_msg_id = from_alice.client_msg_id;
    from_bob.payload_hash = from_alice.payload_hash;
    auto out = sent(from_bob);
    EXPECT_FALSE(out.duplicate);
    EXPECT_EQ(out.message.seq, 2);
}

TEST_P(StoreConformance, SendingToAUserThatDoesNotExistIsNotFound) {
    auto alice = add_user("alice");
    auto a1 = add_device(alice), a2 = add_device(alice);
    auto r = send(direct(alice, a1, 424242));
    ASSERT_FALSE(r.ok());
    expect_error_code(r.error(), Code::not_found);
    EXPECT_EQ(inbox_->inbox_depth(alice, a2), 0u);
}

TEST_P(StoreConformance, FanOutGoesToTheRecipientFirstThenTheSendersOtherDevices) {
    auto alice = add_user("alice"), bob = add_user("bob");
    auto a1 = add_device(alice), a2 = add_device(alice), a3 = add_device(alice);
    auto b1 = add_device(bob), b2 = add_device(bob);
    auto out = sent(direct(alice, a2, bob));
    ASSERT_EQ(out.targets.size(), 4u);
    std::set<DeviceId> first_two, last_two;
    for (std::size_t i = 0; i < 4; ++i) {
        const auto& t = out.targets[i];
        EXPECT_EQ(t.user, i < 2 ? bob : alice) << "target " << i;
        (i < 2 ? first_two : last_two).insert(t.device);
        // Each target names the inbox row that was written.
        auto rows = inbox(t.user, t.device);
        ASSERT_EQ(rows.size(), 1u);
        EXPECT_EQ(rows[0].inbox_id, t.inbox_id);
        EXPECT_EQ(rows[0].message.message_id, out.message.message_id);
    }
    EXPECT_EQ(first_two, (std::set<DeviceId>{b1, b2}));
    EXPECT_EQ(last_two, (std::set<DeviceId>{a1, a3}));
    EXPECT_EQ(inbox_->inbox_depth(alice, a2), 0u);  // never the sending device
}

TEST_P(StoreConformance, AChatWithOneselfReachesOnlyTheSendersOtherDevices) {
    auto alice = add_user("alice");
    auto a1 = add_device(alice), a2 = add_device(alice);
    auto out = sent(direct(alice, a1, alice));
    ASSERT_EQ(out.targets.size(), 1u);
    EXPECT_EQ(out.targets[0].user, alice);
    EXPECT_EQ(out.targets[0].device, a2);
    EXPECT_EQ(inbox_->inbox_depth(alice, a1), 0u);
    EXPECT_EQ(inbox_->inbox_depth(alice, a2), 1u);
}

// ---- InboxStore

TEST_P(StoreConformance, InboxKeepsTheWholeMessage) {
    auto alice = add_user("alice"), bob = add_user("bob");
    auto a1 = add_device(alice), b1 = add_device(bob);
    auto req = direct(alice, a1, bob);
    req.kind = MessageKind::image;
    req.body = "";
    req.attachment_json = R"({"media_id":"9","mime":"image/png","size":10})";
    auto out = sent(req);
    auto rows = inbox(bob, b1);
    ASSERT_EQ(rows.size(), 1u);
    const auto& m = rows[0].message;
    EXPECT_EQ(m.message_id, out.message.message_id);
    EXPECT_EQ(m.client_msg_id, req.client_msg_id);
    EXPECT_EQ(m.conversation_id, req.conversation_id);
    EXPECT_EQ(m.seq, 1);
    EXPECT_EQ(m.prev_message_id, 0u);
    EXPECT_EQ(m.kind, MessageKind::image);
    EXPECT_EQ(m.from_user, alice);
    EXPECT_EQ(m.from_device, a1);
    EXPECT_EQ(m.to_json, req.to_json);
    EXPECT_EQ(m.body, "");
    EXPECT_EQ(m.attachment_json, req.attachment_json);
    EXPECT_EQ(m.ts, req.ts);
}

TEST_P(StoreConformance, ReadInboxIsOrderedAndPagesWithAfterAndLimit) {
    auto alice = add_user("alice"), bob = add_user("bob");
    auto a1 = add_device(alice), b1 = add_device(bob);
    std::vector<MessageId> sent_ids;
    for (int i = 0; i < 5; ++i) sent_ids.push_back(sent(direct(alice, a1, bob)).message.message_id);

    auto all = inbox(bob, b1);
    ASSERT_EQ(all.size(), 5u);
    EXPECT_EQ(message_ids(all), sent_ids);
    for (std::size_t i = 1; i < all.size(); ++i) EXPECT_LT(all[i - 1].inbox_id, all[i].inbox_id);

    auto page = inbox(bob, b1, all[1].inbox_id, 2);
    EXPECT_EQ(message_ids(page), (std::vector<MessageId>{sent_ids[2], sent_ids[3]}));
    EXPECT_EQ(message_ids(inbox(bob, b1, 0, 1)), std::vector<MessageId>{sent_ids[0]});
    EXPECT_TRUE(inbox(bob, b1, all.back().inbox_id, 10).empty());
    EXPECT_TRUE(inbox(bob, 424242).empty());
}

TEST_P(StoreConformance, AckRemovesOnlyTheAckingDevicesRows) {
    auto alice = add_user("alice"), bob = add_user("bob");
    auto a1 = add_device(alice), b1 = add_device(bob), b2 = add_device(bob);
    auto m1 = sent(direct(alice, a1, bob)).message.message_id;
    auto m2 = sent(direct(alice, a1, bob)).message.message_id;

    EXPECT_EQ(ack(bob, b1, {m1}), 1u);
    EXPECT_EQ(message_ids(inbox(bob, b1)), std::vector<MessageId>{m2});
    EXPECT_EQ(message_ids(inbox(bob, b2)), (std::vector<MessageId>{m1, m2}));
}

TEST_P(StoreConformance, AckCountsOnlyIdsThatWereInTheInbox) {
    auto alice = add_user("alice"), bob = add_user("bob");
    auto a1 = add_device(alice), b1 = add_device(bob);
    auto m1 = sent(direct(alice, a1, bob)).message.message_id;
    auto m2 = sent(direct(alice, a1, bob)).message.message_id;
    auto m3 = sent(direct(alice, a1, bob)).message.message_id;
    EXPECT_EQ(ack(bob, b1, {m1}), 1u);
    EXPECT_EQ(ack(bob, b1, {m1, m2, 424242}), 1u);  // m1 already gone, 424242 never there
    EXPECT_EQ(ack(bob, b1, {}), 0u);
    EXPECT_EQ(ack(alice, a1, {m3}), 0u);  // not in the sender's inbox
    EXPECT_EQ(message_ids(inbox(bob, b1)), std::vector<MessageId>{m3});
}

TEST_P(StoreConformance, InboxDepthCountsWaitingRows) {
    auto alice = add_user("alice"), bob = add_user("bob");
    auto a1 = add_device(alice), b1 = add_device(bob);
    EXPECT_EQ(inbox_->inbox_depth(bob, b1), 0u);
    std::vector<MessageId> ids;
    for (int i = 0; i < 3; ++i) ids.push_back(sent(direct(alice, a1, bob)).message.message_id);
    EXPECT_EQ(inbox_->inbox_depth(bob, b1), 3u);
    ack(bob, b1, {ids[0], ids[2]});
    EXPECT_EQ(inbox_->inbox_depth(bob, b1), 1u);
}

// ---- concurrency

TEST_P(StoreConformance, ConcurrentSendsToOneConversationGetGaplessSeqs) {
    constexpr int kThreads = 8, kEach = 200;
    auto alice = add_user("alice"), bob = add_user("bob");
    add_device(bob);
    // Each thread is one device, of alice or of bob, sending one message after another.
    std::vector<std::vector<SendRequest>> requests(kThreads);
    for (int t = 0; t < kThreads; ++t) {
        auto [from, to] = t % 2 ? std::pair{alice, bob} : std::pair{bob, alice};
        DeviceId device = next_id();
        for (int i = 0; i < kEach; ++i) requests[t].push_back(direct(from, device, to));
    }
    std::vector<std::vector<SendOutcome>> results(kThreads);
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (auto& req : requests[t]) {
                auto f = send_async(req);
                if (f.wait_for(kDeadline) != std::future_status::ready) return void(++failures);
                auto r = f.get();
                if (!r.ok()) return void(++failures);
                results[t].push_back(r.value());
            }
        });
    }
    for (auto& th : threads) th.join();
    ASSERT_EQ(failures.load(), 0);

    std::map<std::int64_t, SendOutcome> by_seq;
    for (const auto& per_thread : results) {
        for (std::size_t i = 1; i < per_thread.size(); ++i)
            EXPECT_LT(per_thread[i - 1].message.seq, per_thread[i].message.seq) << "a sender's order was not kept";
        for (const auto& out : per_thread) EXPECT_TRUE(by_seq.emplace(out.message.seq, out).second) << out.message.seq;
    }
    ASSERT_EQ(by_seq.size(), std::size_t(kThreads * kEach));
    EXPECT_EQ(by_seq.begin()->first, 1);
    EXPECT_EQ(by_seq.rbegin()->first, kThreads * kEach);
    MessageId prev = 0;
    for (const auto& [seq, out] : by_seq) {
        ASSERT_EQ(out.message.prev_message_id, prev) << "seq " << seq;
        prev = out.message.message_id;
    }
}

// Many conversations writing to one device at once: its rows commit in
// inbox_id order and each names the one before it, which is what lets a
// socket tell a late or lost bus event from one it may push at once.
TEST_P(StoreConformance, ConcurrentSendsToOneDeviceChainItsInboxRows) {
    constexpr int kSenders = 6, kEach = 40;
    auto bob = add_user("bob");
    auto b1 = add_device(bob);
    std::vector<std::pair<UserId, DeviceId>> senders;
    for (int s = 0; s < kSenders; ++s) {
        auto u = add_user("sender" + std::to_string(s));
        senders.emplace_back(u, add_device(u));
    }
    std::vector<std::vector<InboxTarget>> rows(kSenders);
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int s = 0; s < kSenders; ++s) {
        threads.emplace_back([&, s] {
            for (int i = 0; i < kEach; ++i) {
                auto f = send_async(direct(senders[s].first, senders[s].second, bob));
                if (f.wait_for(kDeadline) != std::future_status::ready) return void(++failures);
                auto r = f.get();
                if (!r.ok()) return void(++failures);
                for (const auto& t : r->targets)
                    if (t.user == bob && t.device == b1) rows[s].push_back(t);
            }
        });
    }
    for (auto& th : threads) th.join();
    ASSERT_EQ(failures.load(), 0);
    std::map<InboxId, InboxId> prev_of;
    for (const auto& per : rows)
        for (const auto& t : per) prev_of[t.inbox_id] = t.prev_inbox_id;
    ASSERT_EQ(prev_of.size(), std::size_t(kSenders * kEach));
    InboxId before = 0;
    for (const auto& [id, prev] : prev_of) {
        ASSERT_EQ(prev, before) << "row " << id;
        before = id;
    }
    auto all = inbox(bob, b1, 0, kSenders * kEach + 1);
    ASSERT_EQ(all.size(), prev_of.size());
    EXPECT_EQ(all.back().inbox_id, before);
}

// ---- ConversationStore

TEST_P(StoreConformance, ConversationsListMostRecentFirstWithUnreadFromOthers) {
    auto alice = add_user("alice"), bob = add_user("bob"), carol = add_user("carol");
    auto a = add_device(alice), b = add_device(bob), c = add_device(carol);
    sent(direct(bob, b, alice));
    sent(direct(bob, b, alice));
    sent(direct(alice, a, bob));
    auto last = sent(direct(carol, c, alice));
    auto list = sut_->ports.conversations->conversations(alice, 10);
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0].conversation_id, direct_conversation(alice, carol).str());
    ASSERT_TRUE(list[0].last_message.has_value());
    EXPECT_EQ(list[0].last_message->message_id, last.message.message_id);
    EXPECT_EQ(list[0].unread, 1);
    EXPECT_EQ(list[1].conversation_id, direct_conversation(alice, bob).str());
    EXPECT_EQ(list[1].last_seq, 3);
    EXPECT_EQ(list[1].unread, 2) << "alice's own message is not unread for her";
    EXPECT_EQ(sut_->ports.conversations->conversations(alice, 1).size(), 1u);
    EXPECT_TRUE(sut_->ports.conversations->conversations(add_user("dave"), 10).empty());
}

TEST_P(StoreConformance, HistoryPagesNewestFirstWithinBounds) {
    auto alice = add_user("alice"), bob = add_user("bob");
    auto a = add_device(alice);
    add_device(bob);
    for (int i = 0; i < 7; ++i) sent(direct(alice, a, bob));
    auto conv = direct_conversation(alice, bob).str();
    auto* h = sut_->ports.conversations;
    auto seqs = [](const std::vector<StoredMessage>& ms) {
        std::vector<std::int64_t> out;
        for (const auto& m : ms) out.push_back(m.seq);
        return out;
    };
    EXPECT_EQ(seqs(h->history(conv, 1, 0, 3)), (std::vector<std::int64_t>{7, 6, 5}));
    EXPECT_EQ(seqs(h->history(conv, 1, 5, 3)), (std::vector<std::int64_t>{4, 3, 2}));
    EXPECT_EQ(seqs(h->history(conv, 1, 2, 3)), (std::vector<std::int64_t>{1}));
    EXPECT_EQ(seqs(h->history(conv, 4, 0, 10)), (std::vector<std::int64_t>{7, 6, 5, 4}));
    auto page = h->history(conv, 1, 0, 1);
    ASSERT_EQ(page.size(), 1u);
    EXPECT_EQ(page[0].from_user, alice);
    EXPECT_FALSE(page[0].body.empty());
    EXPECT_TRUE(h->history("d:1:2", 1, 0, 10).empty());
}

// ---- RetentionStore

TEST_P(StoreConformance, ExpiringInboxRowsMarksTheDeviceTruncatedUntilCleared) {
    auto alice = add_user("alice"), bob = add_user("bob");
    auto a = add_device(alice), b = add_device(bob);
    auto old = direct(alice, a, bob);
    old.ts = kNow - 10'000;
    sent(old);
    sent(direct(alice, a, bob));  // ts after kNow: kept
    auto* r = sut_->ports.retention;
    EXPECT_FALSE(inbox_->truncated(bob, b));
    EXPECT_EQ(r->expire_inbox(kNow, 100), 1u);
    EXPECT_EQ(inbox(bob, b).size(), 1u);
    EXPECT_TRUE(inbox_->truncated(bob, b));
    EXPECT_TRUE(inbox_->truncated(bob, b)) << "reading the mark does not clear it";
    inbox_->clear_truncated(bob, b);
    EXPECT_TRUE(eventually([&] { return !inbox_->truncated(bob, b); }));
    EXPECT_EQ(r->expire_inbox(kNow, 100), 0u);
}

TEST_P(StoreConformance, HistoryIsNeverExpiredWhileAnInboxRowNeedsIt) {
    auto alice = add_user("alice"), bob = add_user("bob");
    auto a = add_device(alice), b = add_device(bob);
    auto m = sent(direct(alice, a, bob)).message;
    auto conv = direct_conversation(alice, bob).str();
    auto* r = sut_->ports.retention;
    EXPECT_EQ(r->expire_history(kNow + 1'000'000, 100), 0u) << "bob has not acked it";
    ASSERT_EQ(inbox(bob, b).size(), 1u);
    EXPECT_EQ(ack(bob, b, {m.message_id}), 1u);
    EXPECT_EQ(r->expire_history(m.ts, 100), 0u) << "not older than the cutoff";
    EXPECT_EQ(r->expire_history(m.ts + 1, 100), 1u);
    EXPECT_TRUE(sut_->ports.conversations->history(conv, 1, 0, 10).empty());
}

TEST_P(StoreConformance, ARetryAfterHistoryExpiredStillGetsTheFirstAnswer) {
    auto alice = add_user("alice"), bob = add_user("bob");
    auto a = add_device(alice), b = add_device(bob);
    auto req = direct(alice, a, bob);
    auto first = sent(req).message;
    ack(bob, b, {first.message_id});
    ASSERT_EQ(sut_->ports.retention->expire_history(kNow + 1'000'000, 100), 1u);
    auto again = req;
    again.new_message_id = next_id();
    auto retry = sent(again);
    EXPECT_TRUE(retry.duplicate);
    EXPECT_EQ(retry.message.message_id, first.message_id);
    EXPECT_EQ(retry.message.seq, first.seq);
    EXPECT_EQ(retry.message.conversation_id, first.conversation_id);
    EXPECT_EQ(retry.message.prev_message_id, first.prev_message_id);
    EXPECT_EQ(retry.message.ts, first.ts);
    EXPECT_TRUE(inbox(bob, b).empty());
}

TEST_P(StoreConformance, ExpiredIdempotencyKeysAreForgotten) {
    auto alice = add_user("alice"), bob = add_user("bob");
    auto a = add_device(alice);
    add_device(bob);
    auto req = direct(alice, a, bob);
    auto first = sent(req).message;
    EXPECT_EQ(sut_->ports.retention->expire_dedupe(req.ts, 100), 0u);
    EXPECT_EQ(sut_->ports.retention->expire_dedupe(req.ts + 1, 100), 1u);
    auto again = req;
    again.new_message_id = next_id();
    auto second = sent(again);
    EXPECT_FALSE(second.duplicate);
    EXPECT_EQ(second.message.seq, first.seq + 1);
}

TEST_P(StoreConformance, ExpiredCredentialsAreRemovedInBatches) {
    auto alice = add_user("alice");
    auto a = add_device(alice);
    for (int i = 0; i < 5; ++i) devices_->add_refresh_token(alice, a, "old" + std::to_string(i), kNow - 1);
    devices_->add_refresh_token(alice, a, "fresh", kNow + 60'000);
    devices_->add_ticket(alice, a, "old-ticket", kNow - 1);
    auto* r = sut_->ports.retention;
    EXPECT_EQ(r->expire_credentials(kNow, 4), 4u);
    EXPECT_EQ(r->expire_credentials(kNow, 100), 2u);
    EXPECT_EQ(r->expire_credentials(kNow, 100), 0u);
    EXPECT_EQ(devices_->rotate_refresh_token(alice, "fresh", "next", kNow + 1, kNow).kind, Kind::rotated);
}

// ---- GroupStore

TEST_P(StoreConformance, CreatingAGroupWritesItsSystemMessageToEveryMembersDevices) {
    auto alice = add_user("alice"), bob = add_user("bob"), carol = add_user("carol");
    auto a1 = add_device(alice), a2 = add_device(alice), b1 = add_device(bob), c1 = add_device(carol);
    auto c = group_change(GroupChange::Kind::create, next_id(), alice);
    c.actor_device = a1;
    c.name = "trip";
    c.members = {bob, carol};
    auto gid = c.group_id;
    auto r = change(c);
    ASSERT_TRUE(r.ok()) << r.error().message;
    const auto& m = r->message;
    EXPECT_EQ(m.conversation_id, group_conversation(gid).str());
    EXPECT_EQ(m.seq, 1);
    EXPECT_EQ(m.kind, MessageKind::system);
    EXPECT_EQ(m.from_user, alice);
    EXPECT_FALSE(m.event_json.empty());
    // Every device, the acting one too; the actor's last.
    std::vector<std::pair<UserId, DeviceId>> targets;
    for (const auto& t : r->targets) targets.emplace_back(t.user, t.device);
    ASSERT_EQ(targets.size(), 4u);
    EXPECT_EQ(targets[2].first, alice);
    EXPECT_EQ(targets[3].first, alice);
    for (auto [u, d] : std::vector<std::pair<UserId, DeviceId>>{{bob, b1}, {carol, c1}, {alice, a1}, {alice, a2}})
        EXPECT_NE(std::find(targets.begin(), targets.end(), std::make_pair(u, d)), targets.end());
    EXPECT_EQ(message_ids(inbox(carol, c1)), std::vector<MessageId>{m.message_id});

    auto g = groups_->group(gid);
    ASSERT_TRUE(g.has_value());
    EXPECT_EQ(g->name, "trip");
    ASSERT_EQ(g->members.size(), 3u);
    for (const auto& mb : g->members) {
        EXPECT_EQ(mb.admin, mb.user_id == alice);
        EXPECT_EQ(mb.joined_seq, 1);
    }
    EXPECT_EQ(groups_->members(m.conversation_id), (std::vector<UserId>{alice, bob, carol}));
    ASSERT_TRUE(groups_->membership(m.conversation_id, alice).has_value());
    EXPECT_TRUE(groups_->membership(m.conversation_id, alice)->admin);
    EXPECT_FALSE(groups_->membership(m.conversation_id, add_user("dave")).has_value());
    EXPECT_FALSE(groups_->group(next_id()).has_value());
}

TEST_P(StoreConformance, GroupChangesAreCheckedInTheirTransaction) {
    auto alice = add_user("alice"), bob = add_user("bob"), carol = add_user("carol"), dave = add_user("dave");
    auto bad = group_change(GroupChange::Kind::create, next_id(), alice);
    bad.members = {bob, next_id()};
    expect_error_code(change(bad).error(), Code::not_found);
    bad.members = {bob, carol, dave, add_user("eve"), add_user("fred")};  // 6 with alice, max 5
    expect_error_code(change(bad).error(), Code::conflict);
    EXPECT_FALSE(groups_->group(bad.group_id).has_value()) << "a refused create leaves nothing";

    auto gid = create_group(alice, {bob});
    expect_error_code(change(group_change(GroupChange::Kind::add, gid, bob, carol)).error(), Code::forbidden);
    expect_error_code(change(group_change(GroupChange::Kind::add, gid, carol, dave)).error(), Code::forbidden);
    expect_error_code(change(group_change(GroupChange::Kind::add, gid, alice, bob)).error(), Code::conflict);
    expect_error_code(change(group_change(GroupChange::Kind::add, gid, alice, next_id())).error(), Code::not_found);
    expect_error_code(change(group_change(GroupChange::Kind::add, next_id(), alice, carol)).error(), Code::not_found);
    expect_error_code(change(group_change(GroupChange::Kind::remove, gid, alice, dave)).error(), Code::not_found);
    expect_error_code(change(group_change(GroupChange::Kind::remove, gid, bob, alice)).error(), Code::forbidden);
    // The refusals took no seq.
    auto ok = change(group_change(GroupChange::Kind::add, gid, alice, carol));
    ASSERT_TRUE(ok.ok());
    EXPECT_EQ(ok->message.seq, 2);
}

TEST_P(StoreConformance, AGroupSendReachesExactlyTheMembersOfItsMoment) {
    auto alice = add_user("alice"), bob = add_user("bob"), carol = add_user("carol"), mallory = add_user("mallory");
    auto a1 = add_device(alice), b1 = add_device(bob), c1 = add_device(carol), m1 = add_device(mallory);
    auto gid = create_group(alice, {bob});
    auto conv = group_conversation(gid).str();
    auto first = sent(to_group(alice, a1, gid));
    EXPECT_EQ(first.message.seq, 2);
    ASSERT_EQ(first.targets.size(), 1u) << "bob's device; not the sending one";
    EXPECT_EQ(first.targets[0].user, bob);

    expect_error_code(send(to_group(mallory, m1, gid)).error(), Code::forbidden);
    expect_error_code(send(to_group(alice, a1, next_id())).error(), Code::not_found);

    auto added = change(group_change(GroupChange::Kind::add, gid, alice, carol));
    ASSERT_TRUE(added.ok());
    EXPECT_EQ(groups_->membership(conv, carol)->joined_seq, added->message.seq);
    auto second = sent(to_group(bob, b1, gid));
    auto removed = change(group_change(GroupChange::Kind::remove, gid, alice, bob));
    ASSERT_TRUE(removed.ok());
    bool bob_told = false;
    for (const auto& t : removed->targets) bob_told |= t.user == bob;
    EXPECT_TRUE(bob_told) << "the removed member gets its removal";
    auto third = sent(to_group(alice, a1, gid));
    for (const auto& t : third.targets) EXPECT_NE(t.user, bob) << "nothing after the removal";
    expect_error_code(send(to_group(bob, b1, gid)).error(), Code::forbidden);

    auto bob_rows = inbox(bob, b1);
    ASSERT_EQ(bob_rows.size(), 4u);
    EXPECT_EQ(bob_rows[0].message.seq, 1);
    EXPECT_EQ(message_ids(bob_rows), (std::vector<MessageId>{bob_rows[0].message.message_id, first.message.message_id,
                                                              added->message.message_id, removed->message.message_id}));
    EXPECT_EQ(message_ids(inbox(carol, c1)),
              (std::vector<MessageId>{added->message.message_id, second.message.message_id, removed->message.message_id,
                                      third.message.message_id}));
}

TEST_P(StoreConformance, TheLastAdminLeavingPromotesTheLongestStandingMember) {
    auto alice = add_user("alice"), bob = add_user("bob"), carol = add_user("carol");
    auto gid = create_group(alice, {carol});
    ASSERT_TRUE(change(group_change(GroupChange::Kind::add, gid, alice, bob)).ok());
    auto left = change(group_change(GroupChange::Kind::remove, gid, alice, alice));
    ASSERT_TRUE(left.ok());
    EXPECT_NE(left->message.event_json.find(id_string(carol)), std::string::npos) << left->message.event_json;
    auto g = groups_->group(gid);
    ASSERT_EQ(g->members.size(), 2u);
    for (const auto& m : g->members) EXPECT_EQ(m.admin, m.user_id == carol);
    // The last member leaving leaves an empty group, no admin to promote.
    ASSERT_TRUE(change(group_change(GroupChange::Kind::remove, gid, bob, bob)).ok());
    ASSERT_TRUE(change(group_change(GroupChange::Kind::remove, gid, carol, carol)).ok());
    EXPECT_TRUE(groups_->group(gid)->members.empty());
}

TEST_P(StoreConformance, ContactsAreUsersSharingAConversation) {
    auto alice = add_user("alice"), bob = add_user("bob"), carol = add_user("carol"), dave = add_user("dave");
    auto a1 = add_device(alice);
    sent(direct(alice, a1, bob));
    create_group(carol, {alice});
    auto found = groups_->contacts_among(alice, {bob, carol, dave});
    std::sort(found.begin(), found.end());
    EXPECT_EQ(found, (std::vector<UserId>{bob, carol}));
    EXPECT_TRUE(groups_->contacts_among(dave, {alice, bob}).empty());
    EXPECT_TRUE(groups_->contacts_among(alice, {}).empty());
}

// ---- ReceiptStore

TEST_P(StoreConformance, AnAckMovesTheDeliveredWatermarkAndNamesTheSenders) {
    auto alice = add_user("alice"), bob = add_user("bob");
    auto a1 = add_device(alice), b1 = add_device(bob), b2 = add_device(bob);
    std::vector<SendOutcome> out;
    for (int i = 0; i < 3; ++i) out.push_back(sent(direct(alice, a1, bob)));
    auto conv = out[0].message.conversation_id;
    auto r = ack_outcome(bob, b1, {out[0].message.message_id, out[1].message.message_id}, kNow + 5);
    EXPECT_EQ(r.removed, 2u);
    ASSERT_EQ(r.receipts.size(), 1u);
    EXPECT_EQ(r.receipts[0].conversation_id, conv);
    EXPECT_EQ(r.receipts[0].by, bob);
    EXPECT_FALSE(r.receipts[0].read);
    EXPECT_EQ(r.receipts[0].up_to_seq, 2);
    EXPECT_EQ(r.receipts[0].notify, std::vector<UserId>{alice});
    // Another device acking what is already delivered moves nothing.
    EXPECT_TRUE(ack_outcome(bob, b2, {out[1].message.message_id}).receipts.empty());
    // Acking one's own message (a copy on another device) is no receipt.
    auto own = sent(direct(bob, b1, alice));
    EXPECT_TRUE(ack_outcome(bob, b2, {own.message.message_id}).receipts.empty());
    // Ids not in the inbox: nothing.
    EXPECT_TRUE(ack_outcome(bob, b1, {next_id()}).receipts.empty());

    auto marks = receipts_->receipts(conv);
    ASSERT_EQ(marks.size(), 2u);
    for (const auto& m : marks) {
        if (m.user_id == bob) {
            EXPECT_EQ(m.delivered_seq, 2);
            EXPECT_EQ(m.read_seq, 0);
            EXPECT_EQ(m.changed_at, kNow + 5);
        }
    }
}

TEST_P(StoreConformance, ReadMovesReadAndDeliveredNeverBack) {
    auto alice = add_user("alice"), bob = add_user("bob"), eve = add_user("eve");
    auto a1 = add_device(alice);
    SendOutcome last;
    for (int i = 0; i < 4; ++i) last = sent(direct(alice, a1, bob));
    auto conv = last.message.conversation_id;
    auto r = mark_read(bob, conv, 3);
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(r->size(), 2u) << "delivered moved with read";
    for (const auto& c : *r) {
        EXPECT_EQ(c.up_to_seq, 3);
        EXPECT_EQ(c.by, bob);
        if (c.read) EXPECT_EQ(c.notify, (std::vector<UserId>{alice, bob})) << "the reader's own devices too";
        else EXPECT_EQ(c.notify, std::vector<UserId>{alice});
    }
    r = mark_read(bob, conv, 2);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->empty()) << "never back";
    expect_error_code(mark_read(bob, conv, 5).error(), Code::invalid);
    expect_error_code(mark_read(eve, conv, 1).error(), Code::forbidden);
    for (const auto& m : receipts_->receipts(conv))
        if (m.user_id == bob) {
            EXPECT_EQ(std::make_pair(m.delivered_seq, m.read_seq), std::make_pair(std::int64_t(3), std::int64_t(3)));
        }
    auto list = sut_->ports.conversations->conversations(bob, 10);
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0].unread, 1);
}

TEST_P(StoreConformance, ReceiptsSinceListsChangedWatermarksOfTheUsersConversations) {
    auto alice = add_user("alice"), bob = add_user("bob"), carol = add_user("carol");
    auto a1 = add_device(alice), b1 = add_device(bob), c1 = add_device(carol);
    auto to_bob = sent(direct(alice, a1, bob));
    auto bob_carol = sent(direct(bob, b1, carol));
    ASSERT_TRUE(mark_read(bob, to_bob.message.conversation_id, 1, kNow + 10).ok());
    ASSERT_TRUE(mark_read(carol, bob_carol.message.conversation_id, 1, kNow + 20).ok());
    auto seen = receipts_->receipts_since(alice, 0, 100);
    ASSERT_EQ(seen.size(), 1u) << "only alice's conversations; her own row never moved";
    EXPECT_EQ(seen[0].user_id, bob);
    EXPECT_EQ(seen[0].read_seq, 1);
    EXPECT_EQ(seen[0].changed_at, kNow + 10);
    EXPECT_TRUE(receipts_->receipts_since(alice, kNow + 10, 100).empty());
    auto bobs = receipts_->receipts_since(bob, 0, 100);
    ASSERT_EQ(bobs.size(), 2u) << "his own read, carol's read of his message";
    EXPECT_LE(bobs[0].changed_at, bobs[1].changed_at) << "oldest change first";
    EXPECT_EQ(receipts_->receipts_since(bob, 0, 1).size(), 1u);
    // Watermarks covering only others' messages (or system ones) are not news to carol.
    auto gid = create_group(alice, {bob, carol});
    auto in_group = sent(to_group(alice, a1, gid));
    ASSERT_TRUE(mark_read(bob, in_group.message.conversation_id, in_group.message.seq, kNow + 30).ok());
    for (const auto& r : receipts_->receipts_since(carol, kNow + 20, 100))
        EXPECT_EQ(r.user_id, carol) << "bob read alice's message, not carol's";
    bool alice_told = false;
    for (const auto& r : receipts_->receipts_since(alice, kNow + 20, 100))
        alice_told |= r.user_id == bob && r.read_seq == in_group.message.seq;
    EXPECT_TRUE(alice_told);

    EXPECT_EQ(receipts_->receipts_seen(alice, a1), 0);
    std::promise<void> stored;
    receipts_->set_receipts_seen(alice, a1, kNow + 10, [&] { stored.set_value(); });
    ASSERT_EQ(stored.get_future().wait_for(kDeadline), std::future_status::ready);
    EXPECT_EQ(receipts_->receipts_seen(alice, a1), kNow + 10) << "stored when done runs";
    (void)c1;
}

TEST_P(StoreConformance, AMemberAddedLaterStartsWithNothingDeliveredOrRead) {
    auto alice = add_user("alice"), bob = add_user("bob"), dave = add_user("dave");
    auto a1 = add_device(alice), d1 = add_device(dave);
    auto gid = create_group(alice, {bob});
    auto before = sent(to_group(alice, a1, gid));
    auto added = change(group_change(GroupChange::Kind::add, gid, alice, dave));
    ASSERT_TRUE(added.ok());
    auto conv = before.message.conversation_id;
    for (const auto& m : receipts_->receipts(conv))
        if (m.user_id == dave) {
            EXPECT_EQ(m.delivered_seq, 0);
            EXPECT_EQ(m.read_seq, 0);
            EXPECT_EQ(m.joined_seq, added->message.seq);
        }
    // Dave acks and reads up to his join: nothing of alice's is covered.
    auto acked = ack_outcome(dave, d1, {added->message.message_id}, kNow + 40);
    for (const auto& c : acked.receipts) EXPECT_TRUE(c.notify.empty());
    auto read = mark_read(dave, conv, added->message.seq, kNow + 41);
    ASSERT_TRUE(read.ok());
    for (const auto& c : *read)
        for (UserId u : c.notify) EXPECT_EQ(u, dave) << "only dave's own devices";
    for (const auto& r : receipts_->receipts_since(alice, kNow + 39, 100)) EXPECT_NE(r.user_id, dave);
    // A message after the join: alice is told.
    auto after = sent(to_group(alice, a1, gid));
    acked = ack_outcome(dave, d1, {after.message.message_id}, kNow + 50);
    ASSERT_EQ(acked.receipts.size(), 1u);
    EXPECT_EQ(acked.receipts[0].notify, std::vector<UserId>{alice});
    bool told = false;
    for (const auto& r : receipts_->receipts_since(alice, kNow + 49, 100)) told |= r.user_id == dave;
    EXPECT_TRUE(told);
    auto list = sut_->ports.conversations->conversations(dave, 10);
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0].unread, 1) << "alice's message after the join; not the one before, not the system one";
}

// ---- MediaStore

TEST_P(StoreConformance, MediaIsRecordedWithinTheOwnersQuota) {
    auto media = sut_->ports.media;
    auto alice = add_user("alice"), bob = add_user("bob");
    MediaRecord m{next_id(), alice, "image/png", 600, "m/1", kNow};
    ASSERT_TRUE(media->add_media(m, 1000).ok());
    MediaRecord big{next_id(), alice, "image/png", 500, "m/2", kNow};
    expect_error_code(media->add_media(big, 1000).error(), Code::too_large);
    MediaRecord small{next_id(), alice, "image/png", 400, "m/3", kNow};
    EXPECT_TRUE(media->add_media(small, 1000).ok()) << "exactly at the quota";
    EXPECT_TRUE(media->add_media(MediaRecord{next_id(), bob, "image/gif", 900, "m/4", kNow}, 1000).ok())
        << "quotas are per user";
    auto got = media->media(m.media_id);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->owner, alice);
    EXPECT_EQ(got->mime, "image/png");
    EXPECT_EQ(got->size, 600u);
    EXPECT_EQ(got->key, "m/1");
    EXPECT_FALSE(got->verified);
    EXPECT_EQ(got->referenced_at, 0);
    media->mark_verified(m.media_id);
    EXPECT_TRUE(media->media(m.media_id)->verified);
    EXPECT_FALSE(media->media(next_id()).has_value());
}

TEST_P(StoreConformance, ASendMayUseOnlyTheSendersCheckedMediaWhichItsConversationMayThenDownload) {
    auto media = sut_->ports.media;
    auto alice = add_user("alice"), bob = add_user("bob"), carol = add_user("carol");
    auto a1 = add_device(alice);
    MediaRecord m{next_id(), alice, "image/png", 10, "m/10", kNow};
    ASSERT_TRUE(media->add_media(m, 1 << 20).ok());
    auto req = direct(alice, a1, bob);
    req.kind = MessageKind::image;
    req.media_id = m.media_id;
    req.attachment_json = "{\"media_id\":\"" + id_string(m.media_id) + "\"}";
    expect_error_code(send(req).error(), Code::not_found);  // not checked yet
    media->mark_verified(m.media_id);
    auto stolen = direct(carol, add_device(carol), bob);
    stolen.media_id = m.media_id;
    expect_error_code(send(stolen).error(), Code::not_found);  // not the sender's
    EXPECT_TRUE(media->may_download(m.media_id, alice)) << "the uploader";
    EXPECT_FALSE(media->may_download(m.media_id, bob));
    auto out = sent(req);
    EXPECT_EQ(out.message.attachment_json, req.attachment_json);
    EXPECT_GT(media->media(m.media_id)->referenced_at, 0);
    EXPECT_TRUE(media->may_download(m.media_id, bob)) << "a participant of the conversation";
    EXPECT_FALSE(media->may_download(m.media_id, carol));
    // An avatar is for everyone.
    ASSERT_TRUE(media->set_avatar(alice, m.media_id, kNow).ok());
    EXPECT_TRUE(media->may_download(m.media_id, carol));
    EXPECT_EQ(users_->user_by_id(alice)->avatar_media_id, m.media_id);
    expect_error_code(media->set_avatar(carol, m.media_id, kNow).error(), Code::not_found);
    ASSERT_TRUE(media->set_avatar(alice, std::nullopt, kNow).ok());
    EXPECT_FALSE(users_->user_by_id(alice)->avatar_media_id.has_value());
    EXPECT_FALSE(media->may_download(m.media_id, carol));
}

TEST_P(StoreConformance, UnusedAndForgottenMediaExpireIntoTheBlobTrash) {
    auto media = sut_->ports.media;
    auto alice = add_user("alice"), bob = add_user("bob");
    auto a1 = add_device(alice);
    MediaRecord unused{next_id(), alice, "image/png", 10, "m/20", kNow};
    MediaRecord fresh{next_id(), alice, "image/png", 10, "m/21", kNow + 5000};
    MediaRecord used{next_id(), alice, "image/png", 10, "m/22", kNow};
    for (auto* m : {&unused, &fresh, &used}) ASSERT_TRUE(media->add_media(*m, 1 << 20).ok());
    media->mark_verified(used.media_id);
    auto req = direct(alice, a1, bob);
    req.media_id = used.media_id;
    sent(req);
    auto gone = media->expire_media(kNow + 1000, 100);
    ASSERT_EQ(gone.size(), 1u) << "only the unused one past the grace";
    EXPECT_EQ(gone[0].media_id, unused.media_id);
    EXPECT_FALSE(media->media(unused.media_id).has_value());
    EXPECT_TRUE(media->media(fresh.media_id).has_value());
    EXPECT_EQ(media->blob_trash(10), std::vector<std::string>{"m/20"});
    // The message goes (retention): its media follows.
    EXPECT_EQ(sut_->ports.retention->expire_history(kNow + 1'000'000'000, 100), 1u);
    gone = media->expire_media(kNow + 1000, 100);
    ASSERT_EQ(gone.size(), 1u);
    EXPECT_EQ(gone[0].media_id, used.media_id);
    auto trash = media->blob_trash(10);
    std::sort(trash.begin(), trash.end());
    EXPECT_EQ(trash, (std::vector<std::string>{"m/20", "m/22"}));
    media->forget_trash({"m/20"});
    EXPECT_EQ(media->blob_trash(10), std::vector<std::string>{"m/22"});
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreConformance, ::testing::Values(kSqlite, kPg1, kPg3),
                         [](const ::testing::TestParamInfo<StoreFactory>& info) { return info.param.name; });

}  // namespace
