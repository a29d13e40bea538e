// The sharded store when a shard goes away: a recipient's shard down delays
// only its users, who get everything once and in order when it is back; the
// home shard down refuses sends with `unavailable`, and the client's retry
// (same client_msg_id) goes through once it is back.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "adapters/postgres/pg_conn.hpp"
#include "adapters/postgres/pg_store.hpp"
#include "core/conversation.hpp"
#include "support/pg_server.hpp"

namespace {

using namespace natter;
constexpr std::int64_t kNow = 1'750'000'000'000;
constexpr auto kDeadline = std::chrono::seconds(20);

bool eventually(const std::function<bool()>& condition) {
    auto until = std::chrono::steady_clock::now() + kDeadline;
    while (!condition()) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::yield();
    }
    return true;
}

class PgStoreFaults : public ::testing::Test {
protected:
    void SetUp() override {
        servers_ = test::PgServer::start_many(3);
        pg::PgStoreConfig config;
        for (std::size_t i = 0; i < servers_.size(); ++i)
            config.shards.push_back({"pg-" + std::to_string(i + 1), servers_[i]->conninfo()});
        config.outbox_scan = std::chrono::milliseconds(50);
        store_ = std::make_unique<pg::PgStore>(std::move(config));
        store_->on_late_delivery([this](const SendOutcome& out) {
            std::lock_guard lock(mu_);
            late_.push_back(out);
        });
    }
    void TearDown() override {
        store_.reset();
        servers_.clear();
    }

    // A user whose id lands on a shard for which `want` says yes.
    UserId user_where(const std::function<bool(UserId)>& want) {
        for (UserId id = next_++;; id = next_++)
            if (want(id)) return id;
    }
    void add_user(UserId id, const std::string& name) {
        UserRecord u;
        u.user_id = id;
        u.username = name;
        u.password_hash = "x";
        u.display_name = name;
        u.created_at = kNow;
        ASSERT_TRUE(store_->create_user(u).ok());
    }
    DeviceId add_device(UserId user) {
        auto r = store_->open_device(user, std::nullopt, next_++, "device", kNow, 10);
        EXPECT_TRUE(r.ok());
        return r->device_id;
    }
    SendRequest direct(UserId from, DeviceId device, UserId to, const std::string& body) {
        SendRequest req;
        req.conversation_id = direct_conversation(from, to).str();
        req.participants = {from, to};
        req.recipient = to;
        req.sender = from;
        req.sender_device = device;
        auto n = next_++;
        char uuid[40];
        std::snprintf(uuid, sizeof uuid, "00000000-0000-4000-8000-%012llu", static_cast<unsigned long long>(n));
        req.client_msg_id = uuid;
        req.payload_hash = body;
        req.new_message_id = next_++;
        req.to_json = "{\"user\":\"" + id_string(to) + "\"}";
        req.body = body;
        req.ts = kNow + std::int64_t(n);
        return req;
    }
    Result<SendOutcome> send(const SendRequest& req) {
        std::promise<Result<SendOutcome>> p;
        auto f = p.get_future();
        store_->commit_send(req, [&p](Result<SendOutcome> r) { p.set_value(std::move(r)); });
        if (f.wait_for(kDeadline) != std::future_status::ready) throw std::runtime_error("no answer from commit_send");
        return f.get();
    }
    std::vector<std::string> inbox_bodies(UserId user, DeviceId device) {
        std::vector<std::string> out;
        for (const auto& i : store_->read_inbox(user, device, 0, 1000)) out.push_back(i.message.body);
        return out;
    }
    // The same, or nothing while the shard is still taken as down.
    std::size_t inbox_size_now(UserId user, DeviceId device) {
        try {
            return store_->read_inbox(user, device, 0, 1000).size();
        } catch (const pg::Error&) {
            return 0;
        }
    }
    // The outbox row a fan-out to `target` leaves when the answer to its
    // DELETE is lost: the scanner then does that fan-out again.
    static void leave_in_outbox(pg::Connection& home_shard, const SendRequest& req, const SendOutcome& sent, UserId target) {
        home_shard.exec("INSERT INTO outbox(message_id, position, conversation_id, seq, target_user, skip_device, created_at) "
                        "VALUES($1, 1, $2, $3, $4, $5, $6)",
                        {pg::Param::id(sent.message.message_id), pg::Param::text(req.conversation_id),
                         pg::Param::i64(sent.message.seq), pg::Param::id(target), pg::Param::id(req.sender_device),
                         pg::Param::i64(req.ts)});
    }
    std::size_t user_shard(UserId u) { return store_->user_shard(u); }
    std::size_t home(UserId a, UserId b) { return store_->conversation_shard(direct_conversation(a, b).str()); }

    std::vector<std::unique_ptr<test::PgServer>> servers_;
    std::unique_ptr<pg::PgStore> store_;
    std::mutex mu_;
    std::vector<SendOutcome> late_;
    UserId next_ = 1000;
};

TEST_F(PgStoreFaults, ARecipientsShardDownDelaysOnlyItsUsersWhoThenGetEverythingOnceInOrder) {
    // alice, bob and their chat on three different shards; carol and her
    // chat with alice away from bob's shard.
    UserId alice = user_where([&](UserId) { return true; });
    UserId bob = user_where([&](UserId b) { return user_shard(b) != user_shard(alice) && home(alice, b) != user_shard(b) &&
                                                   home(alice, b) != user_shard(alice); });
    UserId carol = user_where([&](UserId c) { return user_shard(c) != user_shard(bob) && home(alice, c) != user_shard(bob); });
    add_user(alice, "alice");
    add_user(bob, "bob");
    add_user(carol, "carol");
    auto a1 = add_device(alice), b1 = add_device(bob), c1 = add_device(carol);
    // Mid-traffic: the chats exist (a new 1:1 chat needs its recipient's
    // shard, to check the recipient exists).
    ASSERT_TRUE(send(direct(alice, a1, bob, "zero")).ok());
    ASSERT_TRUE(send(direct(alice, a1, carol, "hi carol")).ok());

    servers_[user_shard(bob)]->stop();
    for (const char* body : {"one", "two", "three"}) {
        auto r = send(direct(alice, a1, bob, body));
        ASSERT_TRUE(r.ok()) << "a recipient's shard down does not refuse the send: " << r.error().message;
        EXPECT_TRUE(r->targets.empty()) << "bob's inbox is out of reach";
    }
    auto to_carol = send(direct(alice, a1, carol, "carol is unaffected"));
    ASSERT_TRUE(to_carol.ok());
    ASSERT_EQ(to_carol->targets.size(), 1u);
    EXPECT_EQ(inbox_bodies(carol, c1), (std::vector<std::string>{"hi carol", "carol is unaffected"}));
    EXPECT_GE(store_->outbox_depth(), 3u);

    servers_[user_shard(bob)]->start();
    // A send right after: behind the three, never before them.
    ASSERT_TRUE(send(direct(alice, a1, bob, "four")).ok());
    ASSERT_TRUE(eventually([&] { return inbox_size_now(bob, b1) == 5; })) << "the outbox is retried once the shard is back";
    EXPECT_EQ(inbox_bodies(bob, b1), (std::vector<std::string>{"zero", "one", "two", "three", "four"}));
    auto rows = store_->read_inbox(bob, b1, 0, 100);
    for (std::size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(rows[i].message.seq, std::int64_t(i + 1));
    EXPECT_TRUE(eventually([&] { return store_->outbox_depth() == 0; }));
    // The late deliveries were announced, in order, once each.
    std::lock_guard lock(mu_);
    std::vector<std::int64_t> seqs;
    for (const auto& o : late_) {
        EXPECT_EQ(o.targets.size(), 1u);
        seqs.push_back(o.message.seq);
    }
    EXPECT_TRUE(std::is_sorted(seqs.begin(), seqs.end()));
    EXPECT_GE(seqs.size(), 3u);
    EXPECT_EQ(std::vector<std::int64_t>(seqs.begin(), seqs.begin() + 3), (std::vector<std::int64_t>{2, 3, 4}));
}

TEST_F(PgStoreFaults, TheHomeShardDownRefusesSendsAsUnavailableAndTheRetryGoesThroughOnce) {
    UserId alice = user_where([&](UserId) { return true; });
    UserId bob = user_where([&](UserId b) { return home(alice, b) != user_shard(alice) && home(alice, b) != user_shard(b); });
    add_user(alice, "alice");
    add_user(bob, "bob");
    auto a1 = add_device(alice), b1 = add_device(bob);

    servers_[home(alice, bob)]->stop();
    auto req = direct(alice, a1, bob, "hello");
    auto r = send(req);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(code_name(r.error().code), std::string("unavailable")) << r.error().message;

    servers_[home(alice, bob)]->start();
    // The pool waits out its short "down" window, then connects again.
    Result<SendOutcome> again = err(Code::unavailable, "");
    ASSERT_TRUE(eventually([&] { return (again = send(req)).ok(); })) << again.error().message;
    EXPECT_EQ(again->message.seq, 1);
    EXPECT_EQ(again->message.message_id, req.new_message_id);
    auto once_more = send(req);
    ASSERT_TRUE(once_more.ok());
    EXPECT_TRUE(once_more->duplicate);
    EXPECT_EQ(inbox_bodies(bob, b1), std::vector<std::string>{"hello"});
}

// The answer to a fan-out's outbox DELETE was lost (the home shard went
// away just then): the row stays and the scanner does the fan-out again,
// after the recipient has acked the message. It must not come back.
TEST_F(PgStoreFaults, AFanOutDoneAgainAfterTheAckBringsNothingBack) {
    UserId alice = user_where([&](UserId) { return true; });
    UserId bob = user_where([&](UserId b) { return b != alice; });
    add_user(alice, "alice");
    add_user(bob, "bob");
    auto a1 = add_device(alice), b1 = add_device(bob);
    auto req = direct(alice, a1, bob, "once");
    auto r = send(req);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->targets.size(), 1u);
    std::promise<AckOutcome> acked;
    store_->ack(bob, b1, {r->message.message_id}, kNow, [&](AckOutcome o) { acked.set_value(std::move(o)); });
    ASSERT_EQ(acked.get_future().get().removed, 1u);

    pg::Connection home_shard(servers_[home(alice, bob)]->conninfo());
    leave_in_outbox(home_shard, req, *r, bob);
    ASSERT_GE(store_->outbox_depth(), 1u);
    ASSERT_TRUE(eventually([&] { return store_->outbox_depth() == 0; })) << "the scanner did the fan-out again";
    EXPECT_TRUE(inbox_bodies(bob, b1).empty()) << "an acked message came back";
    // Nothing new to push; bob's sockets are asked to read their inbox, in
    // case the first fan-out's rows were never announced.
    std::lock_guard lock(mu_);
    ASSERT_EQ(late_.size(), 1u);
    EXPECT_TRUE(late_[0].targets.empty());
    EXPECT_EQ(late_[0].resync_users, std::vector<UserId>{bob});
}

// The markers go with the sweep once no outbox row could redo their
// fan-out; one waiting in the outbox keeps its message's and later ones.
TEST_F(PgStoreFaults, FanOutMarkersGoOnceNoOutboxRowCanNeedThem) {
    // A store whose scanner does not run during the test: the outbox row
    // below stays until the test removes it.
    pg::PgStoreConfig config;
    for (std::size_t i = 0; i < servers_.size(); ++i)
        config.shards.push_back({"pg-" + std::to_string(i + 1), servers_[i]->conninfo()});
    config.outbox_scan = std::chrono::hours(1);
    store_ = std::make_unique<pg::PgStore>(std::move(config));
    UserId alice = user_where([&](UserId) { return true; });
    UserId bob = user_where([&](UserId b) { return b != alice; });
    add_user(alice, "alice");
    add_user(bob, "bob");
    auto a1 = add_device(alice), b1 = add_device(bob);
    auto first = direct(alice, a1, bob, "first");
    auto r1 = send(first);
    ASSERT_TRUE(r1.ok());
    ASSERT_TRUE(send(direct(alice, a1, bob, "second")).ok());
    pg::Connection bob_shard(servers_[user_shard(bob)]->conninfo());
    auto markers = [&] { return bob_shard.exec("SELECT count(*) FROM fanned_out WHERE user_id=$1", {pg::Param::id(bob)}).i64(0, 0); };
    ASSERT_EQ(markers(), 2);

    // An outbox row of the first message still waits: both markers stay.
    pg::Connection home_shard(servers_[home(alice, bob)]->conninfo());
    leave_in_outbox(home_shard, first, *r1, bob);
    store_->expire_inbox(0, 500);  // no inbox row is old enough: only markers may go
    EXPECT_EQ(markers(), 2);
    home_shard.exec("DELETE FROM outbox");  // its fan-out done
    store_->expire_inbox(0, 500);
    EXPECT_EQ(markers(), 0);
    EXPECT_EQ(inbox_bodies(bob, b1), (std::vector<std::string>{"first", "second"})) << "the rows themselves stay";
}

}  // namespace

namespace {

// Sends wait for a worker in a bounded queue: past limits.max_pending_writes
// they are refused at once (`unavailable`, "overloaded"), never held in
// memory without end; the ones accepted all complete.
// A deletion cut short by a shard down: the user cannot sign in from the
// first step on; the deletion is listed as unfinished, and done again once
// the shard is back it finishes (the media there go to the blob trash).
TEST_F(PgStoreFaults, AnAccountDeletionCutShortLeavesNoWayInAndARetryFinishesIt) {
    UserId alice = user_where([&](UserId) { return true; });
    add_user(alice, "alice");
    add_device(alice);
    // A media of hers on a shard that is neither hers nor her name's.
    std::size_t name_shard = store_->ring().shard_of("name:alice");
    std::uint64_t media_id = next_++;
    while (store_->ring().shard_of("media:" + std::to_string(media_id)) == user_shard(alice) ||
           store_->ring().shard_of("media:" + std::to_string(media_id)) == name_shard)
        media_id = next_++;
    std::size_t media_shard = store_->ring().shard_of("media:" + std::to_string(media_id));
    ASSERT_TRUE(store_->add_media(MediaRecord{media_id, alice, "image/png", 10, "m/alice", kNow}, 1 << 20).ok());

    servers_[media_shard]->stop();
    auto r = store_->delete_user(alice, kNow);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(code_name(r.error().code), std::string("unavailable")) << r.error().message;
    EXPECT_FALSE(store_->user_by_id(alice).has_value());
    EXPECT_TRUE(store_->user_deleted(alice));
    EXPECT_TRUE(store_->devices(alice).empty());
    EXPECT_FALSE(store_->open_device(alice, std::nullopt, next_++, "again", kNow, 10).ok());
    EXPECT_EQ(store_->unfinished_deletions(10), std::vector<UserId>{alice});

    servers_[media_shard]->start();
    Result<Ok> again = err(Code::unavailable, "");
    ASSERT_TRUE(eventually([&] { return (again = store_->delete_user(alice, kNow)).ok(); })) << again.error().message;
    EXPECT_TRUE(store_->unfinished_deletions(10).empty());
    EXPECT_FALSE(store_->media(media_id).has_value());
    EXPECT_EQ(store_->blob_trash(10), std::vector<std::string>{"m/alice"});
    EXPECT_FALSE(store_->user_by_name("alice").has_value());
}

TEST_F(PgStoreFaults, SendsWaitingForAWorkerAreBounded) {
    UserId alice = user_where([&](UserId) { return true; });
    UserId bob = user_where([&](UserId b) { return b != alice; });
    add_user(alice, "alice");
    add_user(bob, "bob");
    auto a1 = add_device(alice);
    add_device(bob);
    ASSERT_TRUE(send(direct(alice, a1, bob, "the chat exists")).ok());

    // One worker, at most 3 waiting; the home shard hangs, so the worker does too.
    store_.reset();
    pg::PgStoreConfig config;
    for (std::size_t i = 0; i < servers_.size(); ++i)
        config.shards.push_back({"pg-" + std::to_string(i + 1), servers_[i]->conninfo()});
    config.workers = 1;
    config.max_queue = 3;
    store_ = std::make_unique<pg::PgStore>(std::move(config));
    servers_[home(alice, bob)]->pause();

    std::vector<std::future<Result<SendOutcome>>> answers;
    for (int i = 0; i < 8; ++i) {
        auto p = std::make_shared<std::promise<Result<SendOutcome>>>();
        answers.push_back(p->get_future());
        store_->commit_send(direct(alice, a1, bob, "queued " + std::to_string(i)),
                            [p](Result<SendOutcome> r) { p->set_value(std::move(r)); });
    }
    int refused_at_once = 0;
    for (auto& a : answers) {
        if (a.wait_for(std::chrono::seconds(0)) != std::future_status::ready) continue;
        auto r = a.get();
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().message, "the store is overloaded; retry");
        ++refused_at_once;
    }
    EXPECT_GE(refused_at_once, 4) << "at most one running and three waiting";
    servers_[home(alice, bob)]->resume();
    for (auto& a : answers) {
        if (!a.valid()) continue;
        ASSERT_EQ(a.wait_for(kDeadline), std::future_status::ready) << "an accepted send is answered";
        a.get();
    }
}

}  // namespace
