// The bus conformance suite: what the sessions rely on from a Bus. Every bus
// adapter must pass it unchanged; to add one, add a factory to the list at
// the end. Delivery may be asynchronous, so tests wait with a deadline.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <numeric>
#include <string>
#include <vector>

#include <hiredis/hiredis.h>

#include <atomic>
#include <thread>

#include "adapters/localbus/local_bus.hpp"
#include "adapters/redis/bus_codec.hpp"
#include "adapters/redis/redis_cluster.hpp"
#include "core/hash_ring.hpp"
#include "ports/bus.hpp"
#include "redis_test_config.hpp"
#include "support/redis_server.hpp"

namespace {

using namespace natter;

constexpr auto kDeadline = std::chrono::seconds(10);

struct BusFactory {
    std::string name;
    std::function<std::unique_ptr<Bus>()> make;
};

void PrintTo(const BusFactory& f, std::ostream* os) { *os << f.name; }

const BusFactory kLocalBus{"local", [] { return std::make_unique<localbus::LocalBus>(); }};

// Redis: `n` real servers, and a cluster on them that the bus owns, so a test
// gets a fresh keyspace and fresh connections. Short retry and timeout
// settings keep the fault tests quick.
using test::redis_config;

class OwnedRedisBus final : public Bus {
public:
    explicit OwnedRedisBus(std::size_t instances) {
        for (std::size_t i = 0; i < instances; ++i) servers_.push_back(std::make_unique<test::RedisServer>());
        cluster_ = std::make_unique<redis::RedisCluster>(redis_config(servers_));
        if (!cluster_->wait_connected(kDeadline)) throw std::runtime_error("the Redis bus did not connect");
    }
    std::unique_ptr<Subscription> subscribe(Channel channel, Handler handler) override {
        return cluster_->bus().subscribe(channel, std::move(handler));
    }
    void publish(Channel channel, std::shared_ptr<const BusEvent> event) override {
        cluster_->bus().publish(channel, std::move(event));
    }

private:
    std::vector<std::unique_ptr<test::RedisServer>> servers_;
    std::unique_ptr<redis::RedisCluster> cluster_;  // goes before its servers
};

const BusFactory kRedis1{"redis1", [] { return std::make_unique<OwnedRedisBus>(1); }};
const BusFactory kRedis2{"redis2", [] { return std::make_unique<OwnedRedisBus>(2); }};

// Records the message ids of the events a subscriber was handed (a resync,
// which names no message, as 0).
class Collector {
public:
    Bus::Handler handler() {
        return [this](std::shared_ptr<const BusEvent> e) {
            std::lock_guard lock(mu_);
            got_.push_back(e->message_id);
            cv_.notify_all();
        };
    }
    // True once at least `n` events arrived.
    bool wait_for(std::size_t n) {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, kDeadline, [&] { return got_.size() >= n; });
    }
    // True once the event with this id arrived.
    bool wait_for_id(MessageId id) {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, kDeadline, [&] { return std::find(got_.begin(), got_.end(), id) != got_.end(); });
    }
    std::vector<MessageId> ids() {
        std::lock_guard lock(mu_);
        return got_;
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<MessageId> got_;
};

std::shared_ptr<const BusEvent> message_event(MessageId id) {
    auto e = std::make_shared<BusEvent>();
    e->kind = BusEvent::Kind::message;
    e->message_id = id;
    e->inbox = {InboxRow{7, InboxId(id), 0}};
    e->frame = std::make_shared<const std::string>("{\"type\":\"message\"}");
    return e;
}

constexpr UserId kAlice = 101, kBob = 202;

class BusConformance : public ::testing::TestWithParam<BusFactory> {
protected:
    void SetUp() override { bus_ = GetParam().make(); }
    void publish(UserId user, MessageId id) { bus_->publish(Channel::user(user), message_event(id)); }
    std::unique_ptr<Bus> bus_;
};

TEST_P(BusConformance, SubscribeThenPublishDelivers) {
    Collector alice;
    auto sub = bus_->subscribe(Channel::user(kAlice), alice.handler());
    publish(kAlice, 1);
    // The churn's own events may still be on their way (they come before).
    ASSERT_TRUE(alice.wait_for_id(1));
    EXPECT_EQ(alice.ids().back(), 1u);
}

TEST_P(BusConformance, TheEventArrivesWhole) {
    std::mutex mu;
    std::condition_variable cv;
    std::shared_ptr<const BusEvent> got;
    auto sub = bus_->subscribe(Channel::user(kAlice), [&](std::shared_ptr<const BusEvent> e) {
        std::lock_guard lock(mu);
        got = std::move(e);
        cv.notify_all();
    });
    auto revoke = std::make_shared<BusEvent>();
    revoke->kind = BusEvent::Kind::revoke;
    revoke->device = 99;
    bus_->publish(Channel::user(kAlice), revoke);
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, kDeadline, [&] { return got != nullptr; }));
    EXPECT_EQ(got->kind, BusEvent::Kind::revoke);
    EXPECT_EQ(got->device, 99u);
}

TEST_P(BusConformance, AUsersEventsDoNotReachAnotherUser) {
    Collector alice, bob;
    auto sub_a = bus_->subscribe(Channel::user(kAlice), alice.handler());
    auto sub_b = bus_->subscribe(Channel::user(kBob), bob.handler());
    publish(kAlice, 1);
    publish(kBob, 2);
    ASSERT_TRUE(alice.wait_for(1));
    ASSERT_TRUE(bob.wait_for(1));
    EXPECT_EQ(alice.ids(), std::vector<MessageId>{1});
    EXPECT_EQ(bob.ids(), std::vector<MessageId>{2});
}

TEST_P(BusConformance, EverySubscriberOfTheUserGetsTheEvent) {
    Collector phone, laptop;
    auto sub_phone = bus_->subscribe(Channel::user(kAlice), phone.handler());
    auto sub_laptop = bus_->subscribe(Channel::user(kAlice), laptop.handler());
    publish(kAlice, 1);
    ASSERT_TRUE(phone.wait_for(1));
    ASSERT_TRUE(laptop.wait_for(1));
    EXPECT_EQ(phone.ids(), std::vector<MessageId>{1});
    EXPECT_EQ(laptop.ids(), std::vector<MessageId>{1});
}

TEST_P(BusConformance, DestroyingTheSubscriptionStopsDelivery) {
    Collector gone, stays;
    auto sub_gone = bus_->subscribe(Channel::user(kAlice), gone.handler());
    auto sub_stays = bus_->subscribe(Channel::user(kAlice), stays.handler());
    publish(kAlice, 1);
    ASSERT_TRUE(gone.wait_for(1));
    ASSERT_TRUE(stays.wait_for(1));

    sub_gone.reset();
    publish(kAlice, 2);
    // Once the remaining subscriber has the event, the other would have had it too.
    ASSERT_TRUE(stays.wait_for(2));
    EXPECT_EQ(gone.ids(), std::vector<MessageId>{1});
    EXPECT_EQ(stays.ids(), (std::vector<MessageId>{1, 2}));
}

TEST_P(BusConformance, ResubscribingAfterTheLastSubscriptionWentWorks) {
    Collector first, second;
    bus_->subscribe(Channel::user(kAlice), first.handler()).reset();
    auto sub = bus_->subscribe(Channel::user(kAlice), second.handler());
    publish(kAlice, 1);
    ASSERT_TRUE(second.wait_for(1));
    EXPECT_TRUE(first.ids().empty());
}

TEST_P(BusConformance, EventsFromOnePublisherArriveInOrder) {
    constexpr std::size_t kEvents = 1000;
    Collector alice;
    auto sub = bus_->subscribe(Channel::user(kAlice), alice.handler());
    std::vector<MessageId> want(kEvents);
    std::iota(want.begin(), want.end(), MessageId(1));
    for (auto id : want) publish(kAlice, id);
    ASSERT_TRUE(alice.wait_for(kEvents)) << "got " << alice.ids().size() << " of " << kEvents;
    EXPECT_EQ(alice.ids(), want);
}

TEST_P(BusConformance, AUsersChannelAndPresenceChannelAreApart) {
    Collector messages, presence;
    auto sub_m = bus_->subscribe(Channel::user(kAlice), messages.handler());
    auto sub_p = bus_->subscribe(Channel::presence(kAlice), presence.handler());
    bus_->publish(Channel::presence(kAlice), message_event(2));
    publish(kAlice, 1);
    ASSERT_TRUE(messages.wait_for(1));
    ASSERT_TRUE(presence.wait_for(1));
    EXPECT_EQ(messages.ids(), std::vector<MessageId>{1});
    EXPECT_EQ(presence.ids(), std::vector<MessageId>{2});
}

TEST_P(BusConformance, APresenceEventArrivesWithItsFrameAndTime) {
    std::mutex mu;
    std::condition_variable cv;
    std::shared_ptr<const BusEvent> got;
    auto sub = bus_->subscribe(Channel::presence(kBob), [&](std::shared_ptr<const BusEvent> e) {
        std::lock_guard lock(mu);
        got = std::move(e);
        cv.notify_all();
    });
    auto ev = std::make_shared<BusEvent>();
    ev->kind = BusEvent::Kind::presence;
    ev->changed_at = 1234567;
    ev->frame = std::make_shared<const std::string>("{\"type\":\"presence\"}");
    bus_->publish(Channel::presence(kBob), ev);
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, kDeadline, [&] { return got != nullptr; }));
    EXPECT_EQ(got->kind, BusEvent::Kind::presence);
    EXPECT_EQ(got->changed_at, 1234567);
    ASSERT_TRUE(got->frame);
    EXPECT_EQ(*got->frame, "{\"type\":\"presence\"}");
}

TEST_P(BusConformance, AfterTheLastUnsubscribeNothingArrivesAndOtherChannelsGoOn) {
    Collector alice, bob;
    bus_->subscribe(Channel::user(kAlice), alice.handler()).reset();
    auto sub_b = bus_->subscribe(Channel::user(kBob), bob.handler());
    publish(kAlice, 1);
    publish(kBob, 2);
    ASSERT_TRUE(bob.wait_for(1));
    EXPECT_TRUE(alice.ids().empty());
    EXPECT_EQ(bob.ids(), std::vector<MessageId>{2});
}

TEST_P(BusConformance, ManyChannelsEachGetTheirOwnEvents) {
    constexpr UserId kUsers = 300;
    std::vector<std::unique_ptr<Collector>> collectors;
    std::vector<std::unique_ptr<Subscription>> subs;
    for (UserId u = 1; u <= kUsers; ++u) {
        collectors.push_back(std::make_unique<Collector>());
        subs.push_back(bus_->subscribe(Channel::user(u), collectors.back()->handler()));
    }
    for (UserId u = 1; u <= kUsers; ++u) publish(u, MessageId(u));
    for (UserId u = 1; u <= kUsers; ++u) {
        ASSERT_TRUE(collectors[u - 1]->wait_for(1)) << "user " << u;
        EXPECT_EQ(collectors[u - 1]->ids(), std::vector<MessageId>{MessageId(u)});
    }
}

TEST_P(BusConformance, ChurnOnOneChannelFromManyThreadsLeavesItWorking) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 100; ++i) {
                auto a = bus_->subscribe(Channel::user(kAlice), [](std::shared_ptr<const BusEvent>) {});
                auto b = bus_->subscribe(Channel::user(UserId(1000 + t)), [](std::shared_ptr<const BusEvent>) {});
                if (i % 3 == 0) publish(kAlice, MessageId(1'000'000 + i));
            }
        });
    for (auto& t : threads) t.join();
    Collector alice;
    auto sub = bus_->subscribe(Channel::user(kAlice), alice.handler());
    publish(kAlice, 1);
    // The churn's own events may still be on their way (they come before).
    ASSERT_TRUE(alice.wait_for_id(1));
    EXPECT_EQ(alice.ids().back(), 1u);
}

TEST_P(BusConformance, AHandlerMayDropItsOwnSubscription) {
    std::mutex mu;
    std::condition_variable cv;
    std::unique_ptr<Subscription> sub;
    int calls = 0;
    sub = bus_->subscribe(Channel::user(kAlice), [&](std::shared_ptr<const BusEvent>) {
        std::unique_ptr<Subscription> gone;
        std::lock_guard lock(mu);
        ++calls;
        gone = std::move(sub);
        cv.notify_all();
    });
    publish(kAlice, 1);
    {
        std::unique_lock lock(mu);
        ASSERT_TRUE(cv.wait_for(lock, kDeadline, [&] { return calls > 0; }));
    }
    // A channel still subscribed shows the later event went by.
    Collector bob;
    auto sub_b = bus_->subscribe(Channel::user(kAlice), bob.handler());
    publish(kAlice, 2);
    ASSERT_TRUE(bob.wait_for(1));
    std::lock_guard lock(mu);
    EXPECT_EQ(calls, 1);
}

INSTANTIATE_TEST_SUITE_P(Buses, BusConformance, ::testing::Values(kLocalBus, kRedis1, kRedis2),
                         [](const ::testing::TestParamInfo<BusFactory>& info) { return info.param.name; });

// What only the Redis bus does: instances that go away and come back, and
// bytes on a channel that are not an event. Two instances, so a fault on
// one shows the other unaffected.
class RedisBusTest : public ::testing::Test {
protected:
    void SetUp() override {
        for (int i = 0; i < 2; ++i) servers_.push_back(std::make_unique<test::RedisServer>());
        cluster_ = std::make_unique<redis::RedisCluster>(redis_config(servers_));
        ASSERT_TRUE(cluster_->wait_connected(kDeadline));
        // A user whose channel lives on each instance.
        HashRing ring({"r0", "r1"}, redis::RedisConfig{}.vnodes);
        for (UserId u = 1; !on_[0] || !on_[1]; ++u)
            if (!on_[ring.shard_of(Channel::user(u).name())]) on_[ring.shard_of(Channel::user(u).name())] = u;
    }
    void TearDown() override { cluster_.reset(); }
    Bus& bus() { return cluster_->bus(); }
    void publish(UserId user, MessageId id) { bus().publish(Channel::user(user), message_event(id)); }

    std::vector<std::unique_ptr<test::RedisServer>> servers_;
    std::unique_ptr<redis::RedisCluster> cluster_;
    UserId on_[2] = {0, 0};  // a user on instance r0, one on r1
};

// Polls `condition` until it holds or the deadline passes.
bool eventually(const std::function<bool()>& condition) {
    const auto until = std::chrono::steady_clock::now() + kDeadline;
    while (!condition()) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::yield();  // each try reads the adapter's counters: no fixed wait
    }
    return true;
}

TEST_F(RedisBusTest, ARestartedInstanceResyncsItsChannelsAndDeliversAgain) {
    for (int round = 0; round < 2; ++round) {
        SCOPED_TRACE(round == 0 ? "stop" : "kill");
        Collector down, up;
        auto sub_down = bus().subscribe(Channel::user(on_[0]), down.handler());
        auto sub_up = bus().subscribe(Channel::user(on_[1]), up.handler());
        const auto before = cluster_->stats();
        if (round == 0) servers_[0]->stop();
        else servers_[0]->kill();
        ASSERT_TRUE(eventually([&] { return cluster_->stats().connected_instances == 1; }));
        servers_[0]->start();
        ASSERT_TRUE(down.wait_for_id(0)) << "no resync";
        ASSERT_TRUE(cluster_->wait_connected(kDeadline));
        publish(on_[0], 7);
        publish(on_[1], 8);
        ASSERT_TRUE(down.wait_for_id(7));
        ASSERT_TRUE(up.wait_for_id(8));
        EXPECT_EQ(down.ids(), (std::vector<MessageId>{0, 7}));
        EXPECT_EQ(up.ids(), std::vector<MessageId>{8});  // its instance never went
        const auto after = cluster_->stats();
        EXPECT_EQ(after.reconnects - before.reconnects, 2u);  // r0's subscriber and commands connections
        EXPECT_EQ(after.resyncs - before.resyncs, 1u);
    }
}

TEST_F(RedisBusTest, MalformedPayloadsAreDroppedAndTheBusGoesOn) {
    Collector alice;
    auto sub = bus().subscribe(Channel::user(on_[1]), alice.handler());
    auto good = redis::encode_bus_event(*message_event(5));
    const std::vector<std::string> bad = {"", "garbage", good.substr(0, good.size() - 3), good + "x",
                                          std::string("\x01\x09", 2)};
    redisContext* raw = redisConnect(servers_[1]->host().c_str(), servers_[1]->port());
    ASSERT_TRUE(raw && !raw->err);
    const auto channel = Channel::user(on_[1]).name();
    for (const auto& payload : bad) {
        auto* r = static_cast<redisReply*>(
            redisCommand(raw, "PUBLISH %b %b", channel.data(), channel.size(), payload.data(), payload.size()));
        ASSERT_TRUE(r && r->type == REDIS_REPLY_INTEGER && r->integer == 1);
        freeReplyObject(r);
    }
    redisFree(raw);
    // After the garbage on the same connection: once this is here, all of it was read.
    publish(on_[1], 6);
    ASSERT_TRUE(alice.wait_for_id(6));
    EXPECT_EQ(alice.ids(), std::vector<MessageId>{6});
    EXPECT_EQ(cluster_->stats().malformed_events, bad.size());
}

TEST_F(RedisBusTest, PublishesWhileAnInstanceIsDownAreDroppedAndCounted) {
    servers_[0]->stop();
    ASSERT_TRUE(eventually([&] { return cluster_->stats().connected_instances == 1; }));
    const auto before = cluster_->stats();
    for (MessageId id = 1; id <= 5; ++id) publish(on_[0], id);
    ASSERT_TRUE(eventually([&] { return cluster_->stats().dropped_publishes >= before.dropped_publishes + 5; }));
    // The other instance's channels work throughout.
    Collector other;
    auto sub_other = bus().subscribe(Channel::user(on_[1]), other.handler());
    publish(on_[1], 9);
    ASSERT_TRUE(other.wait_for_id(9));
    EXPECT_EQ(other.ids(), std::vector<MessageId>{9});
}

TEST_F(RedisBusTest, SubscribingWhileDownReturnsAndResyncsOnceBack) {
    servers_[0]->stop();
    ASSERT_TRUE(eventually([&] { return cluster_->stats().connected_instances == 1; }));
    Collector alice;
    const auto start = std::chrono::steady_clock::now();
    auto sub = bus().subscribe(Channel::user(on_[0]), alice.handler());
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1)) << "waited for a down instance";
    servers_[0]->start();
    ASSERT_TRUE(alice.wait_for_id(0));
    ASSERT_TRUE(cluster_->wait_connected(kDeadline));
    publish(on_[0], 3);
    ASSERT_TRUE(alice.wait_for_id(3));
    EXPECT_EQ(alice.ids(), (std::vector<MessageId>{0, 3}));
}

TEST_F(RedisBusTest, AHungInstanceIsLeftAndResyncsWhenItAnswersAgain) {
    Collector alice;
    auto sub = bus().subscribe(Channel::user(on_[0]), alice.handler());
    servers_[0]->pause();
    // A publish nobody answers: the commands connection gives up after
    // command_timeout and drops it; the subscriber follows when it cannot
    // reconnect (the paused server accepts TCP but answers no PING).
    publish(on_[0], 1);
    ASSERT_TRUE(eventually([&] { return cluster_->stats().connected_instances == 1; }));
    servers_[0]->resume();
    ASSERT_TRUE(cluster_->wait_connected(kDeadline));
    publish(on_[0], 2);
    ASSERT_TRUE(alice.wait_for_id(2));
    const auto got = alice.ids();
    EXPECT_EQ(got.back(), 2u);
}

// Node A's publish is lost with its connection (a hung instance), while node
// B's subscriber connection, idle, never noticed anything: when A is back,
// it tells the channel to resync, so B's sockets read the store.
TEST_F(RedisBusTest, APublishLostWithItsConnectionMakesItsChannelResync) {
    auto publisher = std::make_unique<redis::RedisCluster>(redis_config(servers_));
    ASSERT_TRUE(publisher->wait_connected(kDeadline));
    Collector alice;
    auto sub = bus().subscribe(Channel::user(on_[0]), alice.handler());
    const auto reconnects_before = cluster_->stats().reconnects;
    servers_[0]->pause();
    publisher->bus().publish(Channel::user(on_[0]), message_event(1));
    ASSERT_TRUE(eventually([&] { return publisher->stats().connected_instances == 1; })) << "command_timeout";
    servers_[0]->resume();
    ASSERT_TRUE(publisher->wait_connected(kDeadline));
    ASSERT_TRUE(alice.wait_for_id(0)) << "the channel was told to read the store";
    EXPECT_EQ(cluster_->stats().reconnects, reconnects_before) << "not from the subscriber's own reconnect";
    // And the channel works as before.
    publisher->bus().publish(Channel::user(on_[0]), message_event(2));
    ASSERT_TRUE(alice.wait_for_id(2));
    sub.reset();
    publisher.reset();
}

TEST_F(RedisBusTest, TwoNodesShareChannels) {
    auto other_node = std::make_unique<redis::RedisCluster>(redis_config(servers_));
    ASSERT_TRUE(other_node->wait_connected(kDeadline));
    Collector here_a, here_b, there;
    auto sub_a = bus().subscribe(Channel::user(on_[0]), here_a.handler());
    auto sub_b = bus().subscribe(Channel::user(on_[1]), here_b.handler());
    auto sub_there = other_node->bus().subscribe(Channel::user(on_[0]), there.handler());
    other_node->bus().publish(Channel::user(on_[0]), message_event(1));
    other_node->bus().publish(Channel::user(on_[1]), message_event(2));
    ASSERT_TRUE(here_a.wait_for_id(1));
    ASSERT_TRUE(here_b.wait_for_id(2));
    ASSERT_TRUE(there.wait_for_id(1));
    EXPECT_EQ(here_a.ids(), std::vector<MessageId>{1});
    EXPECT_EQ(here_b.ids(), std::vector<MessageId>{2});
    sub_there.reset();
    other_node.reset();
}

TEST(RedisBusAuth, ThePasswordIsSentAndAWrongOneNeverConnects) {
    test::RedisServer server(std::vector<std::pair<std::string, std::string>>{{"requirepass", "s3cret"}});
    std::vector<std::unique_ptr<test::RedisServer>> none;
    auto config = redis_config(none);
    config.instances.push_back({"r0", server.host(), server.port()});
    config.password = "s3cret";
    {
        redis::RedisCluster cluster(config);
        ASSERT_TRUE(cluster.wait_connected(kDeadline));
        Collector alice;
        auto sub = cluster.bus().subscribe(Channel::user(kAlice), alice.handler());
        cluster.bus().publish(Channel::user(kAlice), message_event(1));
        ASSERT_TRUE(alice.wait_for_id(1));
    }
    config.password = "wrong";
    redis::RedisCluster cluster(config);
    EXPECT_FALSE(cluster.wait_connected(std::chrono::milliseconds(300)));
    EXPECT_EQ(cluster.stats().connected_instances, 0u);
}

TEST(RedisBusConfig, ABadConfigIsRefusedSayingWhatToFix) {
    redis::RedisConfig c;
    EXPECT_NE(redis::validate(c).find("no instances"), std::string::npos);
    c.instances = {{"a", "127.0.0.1", 6379}, {"a", "127.0.0.1", 6380}};
    EXPECT_NE(redis::validate(c).find("\"a\" is used twice"), std::string::npos);
    c.instances = {{"", "127.0.0.1", 6379}};
    EXPECT_NE(redis::validate(c).find("has no name"), std::string::npos);
    c.instances = {{"a", "", 6379}};
    EXPECT_NE(redis::validate(c).find("has no host"), std::string::npos);
    c.instances = {{"a", "127.0.0.1", 6379}};
    EXPECT_EQ(redis::validate(c), "");
    c.reconnect_max = std::chrono::milliseconds(1);
    EXPECT_NE(redis::validate(c), "");
    EXPECT_THROW(redis::RedisCluster{c}, std::invalid_argument);
}

}  // namespace
