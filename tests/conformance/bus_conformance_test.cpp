// The bus conformance suite: what the sessions rely on from a Bus. Every bus
// adapter must pass it unchanged; to add one, add a factory to the list at
// the end. Delivery may be asynchronous, so tests wait with a deadline.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <numeric>
#include <string>
#include <vector>

#include "adapters/localbus/local_bus.hpp"
#include "ports/bus.hpp"

namespace {

using namespace natter;

constexpr auto kDeadline = std::chrono::seconds(10);

struct BusFactory {
    std::string name;
    std::function<std::unique_ptr<Bus>()> make;
};

void PrintTo(const BusFactory& f, std::ostream* os) { *os << f.name; }

const BusFactory kLocalBus{"local", [] { return std::make_unique<localbus::LocalBus>(); }};

// Records the message ids of the events a subscriber was handed.
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
    ASSERT_TRUE(alice.wait_for(1));
    EXPECT_EQ(alice.ids(), std::vector<MessageId>{1});
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

INSTANTIATE_TEST_SUITE_P(Buses, BusConformance, ::testing::Values(kLocalBus),
                         [](const ::testing::TestParamInfo<BusFactory>& info) { return info.param.name; });

}  // namespace
