// The presence conformance suite: what the presence service relies on from a
// PresenceStore, for the embedded store and the Redis one (one instance and
// two). Callbacks may come on another thread: each call is waited for with a
// deadline, and checked to have been called exactly once. "Two nodes" are
// two store objects on the same data (for the embedded store, the same
// object: one process is the whole deployment).
#include <gtest/gtest.h>

#include <hiredis/hiredis.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "adapters/localpresence/local_presence.hpp"
#include "adapters/redis/redis_cluster.hpp"
#include "ports/presence.hpp"
#include "redis_test_config.hpp"
#include "support/redis_server.hpp"

namespace {

using namespace natter;

constexpr auto kDeadline = std::chrono::seconds(10);

class PresenceBackend {
public:
    virtual ~PresenceBackend() = default;
    virtual PresenceStore& node(int i) = 0;  // 0 or 1
};

struct PresenceFactory {
    std::string name;
    std::function<std::unique_ptr<PresenceBackend>()> make;
};

void PrintTo(const PresenceFactory& f, std::ostream* os) { *os << f.name; }

class LocalBackend final : public PresenceBackend {
public:
    PresenceStore& node(int) override { return store_; }

private:
    localpresence::LocalPresence store_;
};

using test::redis_config;

class RedisBackend final : public PresenceBackend {
public:
    explicit RedisBackend(std::size_t instances) {
        for (std::size_t i = 0; i < instances; ++i) servers_.push_back(std::make_unique<test::RedisServer>());
        for (auto& n : nodes_) {
            n = std::make_unique<redis::RedisCluster>(redis_config(servers_));
            if (!n->wait_connected(kDeadline)) throw std::runtime_error("Redis did not connect");
        }
    }
    ~RedisBackend() override {
        for (auto& n : nodes_) n.reset();  // before their servers
    }
    PresenceStore& node(int i) override { return nodes_[i]->presence(); }
    redis::RedisCluster& cluster(int i) { return *nodes_[i]; }
    test::RedisServer& server(std::size_t i) { return *servers_[i]; }

private:
    std::vector<std::unique_ptr<test::RedisServer>> servers_;
    std::unique_ptr<redis::RedisCluster> nodes_[2];
};

const PresenceFactory kLocal{"local", [] { return std::make_unique<LocalBackend>(); }};
const PresenceFactory kRedis1{"redis1", [] { return std::make_unique<RedisBackend>(1); }};
const PresenceFactory kRedis2{"redis2", [] { return std::make_unique<RedisBackend>(2); }};

// One callback's result, waited for; a second call fails the test.
template <class T>
class Answer {
public:
    std::function<void(T)> callback() {
        return [state = state_](T value) {
            std::lock_guard lock(state->mu);
            if (++state->calls == 1) state->value = std::move(value);
            state->cv.notify_all();
        };
    }
    T get() {
        std::unique_lock lock(state_->mu);
        if (!state_->cv.wait_for(lock, kDeadline, [&] { return state_->calls > 0; })) {
            ADD_FAILURE() << "no answer within the deadline";
            return T{};
        }
        EXPECT_EQ(state_->calls, 1) << "called more than once";
        return std::move(*state_->value);
    }

private:
    struct State {
        std::mutex mu;
        std::condition_variable cv;
        int calls = 0;
        std::optional<T> value;
    };
    std::shared_ptr<State> state_ = std::make_shared<State>();
};

using Change = std::optional<PresenceStatus>;

Change heartbeat(PresenceStore& s, UserId u, const std::string& holder, std::int64_t now, std::int64_t ttl = 1000) {
    Answer<Change> a;
    s.heartbeat(u, holder, now, ttl, a.callback());
    return a.get();
}

Change remove(PresenceStore& s, UserId u, const std::string& holder, std::int64_t now) {
    Answer<Change> a;
    s.remove(u, holder, now, a.callback());
    return a.get();
}

std::vector<PresenceStatus> expire(PresenceStore& s, std::int64_t now) {
    Answer<std::vector<PresenceStatus>> a;
    s.expire(now, a.callback());
    return a.get();
}

std::vector<PresenceStatus> status(PresenceStore& s, const std::vector<UserId>& users, std::int64_t now = 0) {
    Answer<std::vector<PresenceStatus>> a;
    s.status(users, now, a.callback());
    return a.get();
}

PresenceStatus status_of(PresenceStore& s, UserId u) {
    auto list = status(s, {u});
    return list.size() == 1 ? list[0] : PresenceStatus{};
}

// Large ids too: they must survive a trip through Lua (whose numbers are doubles).
constexpr UserId kAnn = 7320439296040960001ull, kBen = 202, kCid = 303;

class PresenceConformance : public ::testing::TestWithParam<PresenceFactory> {
protected:
    void SetUp() override { backend_ = GetParam().make(); }
    PresenceStore& a() { return backend_->node(0); }
    PresenceStore& b() { return backend_->node(1); }
    std::unique_ptr<PresenceBackend> backend_;
};

TEST_P(PresenceConformance, TheFirstHolderMakesTheUserOnline) {
    auto first = heartbeat(a(), kAnn, "n1:1", 1000);
    ASSERT_TRUE(first);
    EXPECT_EQ(first->user, kAnn);
    EXPECT_TRUE(first->online);
    EXPECT_EQ(first->changed_at, 1000);
    EXPECT_FALSE(heartbeat(a(), kAnn, "n1:2", 1001));  // already online
    EXPECT_FALSE(heartbeat(a(), kAnn, "n1:1", 1002));  // the same holder again
    auto s = status_of(b(), kAnn);
    EXPECT_TRUE(s.online);
    EXPECT_EQ(s.last_seen, 0);
    EXPECT_EQ(s.changed_at, 1000);
}

TEST_P(PresenceConformance, TheLastRemoveMakesTheUserOfflineWithLastSeen) {
    ASSERT_TRUE(heartbeat(a(), kBen, "n1:1", 1000));
    ASSERT_FALSE(heartbeat(b(), kBen, "n2:1", 1000));
    EXPECT_FALSE(remove(a(), kBen, "n1:1", 1500));  // n2:1 still holds
    auto last = remove(b(), kBen, "n2:1", 1600);
    ASSERT_TRUE(last);
    EXPECT_FALSE(last->online);
    EXPECT_EQ(last->last_seen, 1600);
    EXPECT_EQ(last->changed_at, 1600);
    auto s = status_of(a(), kBen);
    EXPECT_FALSE(s.online);
    EXPECT_EQ(s.last_seen, 1600);
    EXPECT_EQ(s.changed_at, 1600);
}

TEST_P(PresenceConformance, RemovingAnUnknownHolderChangesNothing) {
    EXPECT_FALSE(remove(a(), kCid, "nobody", 1000));
    ASSERT_TRUE(heartbeat(a(), kCid, "n1:1", 1000));
    EXPECT_FALSE(remove(a(), kCid, "n1:2", 1100));
    EXPECT_TRUE(status_of(a(), kCid).online);
    ASSERT_TRUE(remove(a(), kCid, "n1:1", 1200));
    EXPECT_FALSE(remove(a(), kCid, "n1:1", 1300));  // twice
}

TEST_P(PresenceConformance, ChangedAtStrictlyIncreasesEvenWithinAMillisecond) {
    std::int64_t last = 0;
    for (int i = 0; i < 5; ++i) {
        auto on = heartbeat(i % 2 ? a() : b(), kAnn, "h", 1000);
        auto off = remove(i % 2 ? b() : a(), kAnn, "h", 1000);
        ASSERT_TRUE(on && off);
        EXPECT_GT(on->changed_at, last);
        EXPECT_GT(off->changed_at, on->changed_at);
        last = off->changed_at;
    }
    auto later = heartbeat(a(), kAnn, "h", 5000);
    ASSERT_TRUE(later);
    EXPECT_EQ(later->changed_at, 5000);  // the clock again once it is ahead
}

TEST_P(PresenceConformance, ExpireDropsTheHoldersOfAVanishedNode) {
    ASSERT_TRUE(heartbeat(a(), kAnn, "gone:1", 1000, 1000));
    ASSERT_TRUE(heartbeat(a(), kBen, "gone:2", 1000, 1000));
    ASSERT_FALSE(heartbeat(b(), kBen, "alive:1", 1500, 5000));  // Ben is also on a node still alive
    EXPECT_TRUE(expire(b(), 1999).empty());  // not yet
    auto offline = expire(b(), 2500);
    ASSERT_EQ(offline.size(), 1u);
    EXPECT_EQ(offline[0].user, kAnn);
    EXPECT_FALSE(offline[0].online);
    EXPECT_EQ(offline[0].last_seen, 1000);  // its last heartbeat
    EXPECT_EQ(offline[0].changed_at, 2500);
    EXPECT_TRUE(expire(b(), 2600).empty());  // once
    EXPECT_TRUE(expire(a(), 2600).empty());
    auto s = status(a(), {kAnn, kBen});
    EXPECT_FALSE(s[0].online);
    EXPECT_EQ(s[0].last_seen, 1000);
    EXPECT_TRUE(s[1].online);
}

TEST_P(PresenceConformance, RefreshKeepsHoldersAlive) {
    ASSERT_TRUE(heartbeat(a(), kAnn, "n1:1", 1000, 1000));
    ASSERT_TRUE(heartbeat(a(), kBen, "n1:2", 1000, 1000));
    a().refresh({{kAnn, "n1:1"}, {kBen, "n1:2"}}, 1800, 1000);
    status(a(), {kAnn, kBen});  // a round trip after the refresh, on the same connections
    EXPECT_TRUE(expire(b(), 2500).empty());
    auto offline = expire(b(), 2800);
    ASSERT_EQ(offline.size(), 2u);
    for (const auto& s : offline) EXPECT_EQ(s.last_seen, 1800);
}

TEST_P(PresenceConformance, RefreshDoesNotBringBackARemovedHolder) {
    ASSERT_TRUE(heartbeat(a(), kAnn, "n1:1", 1000));
    ASSERT_TRUE(remove(a(), kAnn, "n1:1", 1100));
    a().refresh({{kAnn, "n1:1"}, {kCid, "never"}}, 1200, 1000);
    auto s = status(b(), {kAnn, kCid});
    EXPECT_FALSE(s[0].online);
    EXPECT_FALSE(s[1].online);
    EXPECT_TRUE(expire(b(), 10'000).empty());
}

TEST_P(PresenceConformance, RefreshOfManyHoldersAtOnce) {
    std::vector<std::pair<UserId, std::string>> holders;
    std::vector<UserId> users;
    for (UserId u = 1; u <= 1200; ++u) {
        holders.emplace_back(u, "n1:" + std::to_string(u));
        users.push_back(u);
        a().heartbeat(u, holders.back().second, 1000, 1000, [](Change) {});
    }
    ASSERT_TRUE(heartbeat(a(), 5000, "n1:x", 1000, 1000));
    a().refresh(holders, 1900, 1000);
    // A round trip on the same connections: the heartbeats and the refresh are in.
    auto online = status(a(), users);
    for (const auto& s : online) ASSERT_TRUE(s.online) << s.user;
    auto offline = expire(b(), 2500);
    ASSERT_EQ(offline.size(), 1u);
    EXPECT_EQ(offline[0].user, 5000u);
    EXPECT_EQ(expire(b(), 3000).size(), 1200u);
}

TEST_P(PresenceConformance, TransitionsAreReportedExactlyOnceWhenNodesRace) {
    std::int64_t last_change = 0;
    for (int round = 0; round < 40; ++round) {
        const std::int64_t now = 1000 + round;
        Answer<Change> on_a, on_b;
        std::thread t([&] { a().heartbeat(kAnn, "a", now, 1000, on_a.callback()); });
        b().heartbeat(kAnn, "b", now, 1000, on_b.callback());
        t.join();
        auto ca = on_a.get(), cb = on_b.get();
        ASSERT_EQ(int(ca.has_value()) + int(cb.has_value()), 1) << "round " << round;
        auto on = ca ? *ca : *cb;
        EXPECT_TRUE(on.online);
        EXPECT_GT(on.changed_at, last_change);
        Answer<Change> off_a, off_b;
        std::thread u([&] { a().remove(kAnn, "a", now, off_a.callback()); });
        b().remove(kAnn, "b", now, off_b.callback());
        u.join();
        auto oa = off_a.get(), ob = off_b.get();
        ASSERT_EQ(int(oa.has_value()) + int(ob.has_value()), 1) << "round " << round;
        auto off = oa ? *oa : *ob;
        EXPECT_FALSE(off.online);
        EXPECT_GT(off.changed_at, on.changed_at);
        last_change = off.changed_at;
    }
}

TEST_P(PresenceConformance, NodesExpiringTogetherReportEachUserOnce) {
    constexpr UserId kUsers = 300;
    std::vector<UserId> users;
    for (UserId u = 1; u <= kUsers; ++u) {
        a().heartbeat(u, "gone:" + std::to_string(u), 1000, 1000, [](Change) {});
        users.push_back(u);
    }
    ASSERT_TRUE(heartbeat(a(), 9999, "gone:x", 1000, 1000));
    status(a(), users);  // a round trip on the same connections: the heartbeats are in
    Answer<std::vector<PresenceStatus>> from_a, from_b;
    std::thread t([&] { a().expire(5000, from_a.callback()); });
    b().expire(5000, from_b.callback());
    t.join();
    auto list = from_a.get();
    auto more = from_b.get();
    list.insert(list.end(), more.begin(), more.end());
    std::set<UserId> reported;
    for (const auto& s : list) EXPECT_TRUE(reported.insert(s.user).second) << "user " << s.user << " reported twice";
    EXPECT_EQ(reported.size(), kUsers + 1);
}

TEST_P(PresenceConformance, StatusOfUnknownUsersInTheOrderAsked) {
    ASSERT_TRUE(heartbeat(a(), kBen, "n1:1", 1000));
    std::vector<UserId> asked = {kCid, kBen, 424242, kAnn};
    for (UserId u = 1; u <= 50; ++u) asked.push_back(u * 7919);
    auto list = status(b(), asked);
    ASSERT_EQ(list.size(), asked.size());
    for (std::size_t i = 0; i < asked.size(); ++i) {
        EXPECT_EQ(list[i].user, asked[i]);
        if (asked[i] == kBen) {
            EXPECT_TRUE(list[i].online);
            continue;
        }
        EXPECT_FALSE(list[i].online);
        EXPECT_EQ(list[i].last_seen, 0);
        EXPECT_EQ(list[i].changed_at, 0);
    }
    EXPECT_TRUE(status(a(), {}).empty());
}

INSTANTIATE_TEST_SUITE_P(Presence, PresenceConformance, ::testing::Values(kLocal, kRedis1, kRedis2),
                         [](const ::testing::TestParamInfo<PresenceFactory>& info) { return info.param.name; });

// What only the Redis store does: an instance down or hung, where every
// callback must still come, once.
class RedisPresenceTest : public ::testing::Test {
protected:
    void SetUp() override { backend_ = std::make_unique<RedisBackend>(1); }
    PresenceStore& a() { return backend_->node(0); }
    std::unique_ptr<RedisBackend> backend_;
};

bool eventually(const std::function<bool()>& condition) {
    const auto until = std::chrono::steady_clock::now() + kDeadline;
    while (!condition()) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::yield();  // each try reads the adapter's counters: no fixed wait
    }
    return true;
}

TEST_F(RedisPresenceTest, WhileRedisIsDownEveryCallbackComesOnceWithNothing) {
    ASSERT_TRUE(heartbeat(a(), kAnn, "n1:1", 1000));
    backend_->server(0).stop();
    ASSERT_TRUE(eventually([&] { return backend_->cluster(0).stats().connected_instances == 0; }));
    EXPECT_FALSE(heartbeat(a(), kBen, "n1:2", 1000));
    EXPECT_FALSE(remove(a(), kAnn, "n1:1", 1000));
    auto s = status(a(), {kAnn, kBen});
    ASSERT_EQ(s.size(), 2u);
    EXPECT_FALSE(s[0].online);
    EXPECT_EQ(s[0].last_seen, 0);
    EXPECT_TRUE(expire(a(), 100'000).empty());
    a().refresh({{kAnn, "n1:1"}}, 1000, 1000);  // nothing to answer, nothing to break
    // Back, empty (no persistence): it works again.
    backend_->server(0).start();
    ASSERT_TRUE(backend_->cluster(0).wait_connected(kDeadline));
    EXPECT_TRUE(heartbeat(a(), kBen, "n1:2", 2000));
}

TEST_F(RedisPresenceTest, AHungRedisAnswersNothingAfterTheCommandTimeout) {
    ASSERT_TRUE(heartbeat(a(), kAnn, "n1:1", 1000));
    backend_->server(0).pause();
    Answer<Change> hb;
    Answer<std::vector<PresenceStatus>> st;
    const auto start = std::chrono::steady_clock::now();
    a().heartbeat(kBen, "n1:2", 1000, 1000, hb.callback());
    a().status({kAnn}, 1000, st.callback());
    EXPECT_FALSE(hb.get());
    auto s = st.get();
    ASSERT_EQ(s.size(), 1u);
    EXPECT_FALSE(s[0].online);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
    backend_->server(0).resume();
    ASSERT_TRUE(backend_->cluster(0).wait_connected(kDeadline));
    EXPECT_TRUE(status_of(a(), kAnn).online);  // the data stayed
}

// The node lease, on the same Redis: one natterd per node_id.
class RedisNodeLeaseTest : public RedisPresenceTest {
protected:
    redis::RedisCluster& node(int i) { return backend_->cluster(i); }
    // The key as Redis has it: value and ms left (-2: no key).
    std::pair<std::string, long long> key(const std::string& node_id) {
        auto& server = backend_->server(0);
        redisContext* c = redisConnect(server.host().c_str(), server.port());
        std::pair<std::string, long long> out{"", -2};
        if (c && !c->err) {
            auto* v = static_cast<redisReply*>(redisCommand(c, "GET node:%s", node_id.c_str()));
            if (v && v->type == REDIS_REPLY_STRING) out.first.assign(v->str, v->len);
            if (v) freeReplyObject(v);
            auto* t = static_cast<redisReply*>(redisCommand(c, "PTTL node:%s", node_id.c_str()));
            if (t && t->type == REDIS_REPLY_INTEGER) out.second = t->integer;
            if (t) freeReplyObject(t);
        }
        if (c) redisFree(c);
        return out;
    }
    void set_key(const std::string& node_id, const std::string& value) {
        auto& server = backend_->server(0);
        redisContext* c = redisConnect(server.host().c_str(), server.port());
        ASSERT_TRUE(c && !c->err);
        freeReplyObject(redisCommand(c, "SET node:%s %s PX 60000", node_id.c_str(), value.c_str()));
        redisFree(c);
    }
};

TEST_F(RedisNodeLeaseTest, ASecondOwnerIsRefusedSayingWhy) {
    auto lease = node(0).claim_node("7", "owner-a", std::chrono::seconds(30));
    ASSERT_TRUE(lease && lease->held());
    try {
        node(1).claim_node("7", "owner-b", std::chrono::seconds(30));
        FAIL() << "a second owner got node 7";
    } catch (const std::runtime_error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("node_id 7 is in use"), std::string::npos) << what;
        EXPECT_NE(what.find("owner-a"), std::string::npos) << what;
    }
    // Another node_id is free; the same owner may claim again (a restart that kept its token).
    EXPECT_TRUE(node(1).claim_node("8", "owner-b", std::chrono::seconds(30)));
    EXPECT_TRUE(node(1).claim_node("7", "owner-a", std::chrono::seconds(30)));
    lease.reset();  // released
    EXPECT_EQ(key("7").second, -2);
    EXPECT_TRUE(node(1).claim_node("7", "owner-b", std::chrono::seconds(30)));
}

TEST_F(RedisNodeLeaseTest, ALeaseIsRefreshedAndTakenBackAfterTheDataIsLost) {
    auto lease = node(0).claim_node("9", "owner-a", std::chrono::milliseconds(600));
    // Refreshed: the time left goes up again.
    long long lowest = key("9").second;
    ASSERT_TRUE(eventually([&] {
        auto left = key("9").second;
        if (left < lowest) lowest = left;
        return left > lowest + 50;
    }));
    backend_->server(0).stop();
    backend_->server(0).start();  // empty
    ASSERT_TRUE(eventually([&] { return key("9").first == "owner-a"; }));
    EXPECT_TRUE(lease->held());
}

TEST_F(RedisNodeLeaseTest, ALeaseTakenByAnotherOwnerIsReportedLost) {
    std::promise<void> lost;
    auto lease = node(0).claim_node("5", "owner-a", std::chrono::milliseconds(300), [&] { lost.set_value(); });
    set_key("5", "owner-b");
    ASSERT_EQ(lost.get_future().wait_for(kDeadline), std::future_status::ready);
    EXPECT_FALSE(lease->held());
    EXPECT_EQ(key("5").first, "owner-b");
    lease.reset();  // does not release what is not ours
    EXPECT_EQ(key("5").first, "owner-b");
}

TEST_F(RedisNodeLeaseTest, NoRedisNoLease) {
    backend_->server(0).stop();
    ASSERT_TRUE(eventually([&] { return node(0).stats().connected_instances == 0; }));
    EXPECT_THROW(node(0).claim_node("3", "owner-a", std::chrono::seconds(30), {}, std::chrono::milliseconds(300)),
                 std::runtime_error);
}

}  // namespace
