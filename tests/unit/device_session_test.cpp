// DeviceSession on a real SQLite store and the local bus, over a scripted
// Connection whose strand the test runs by hand: the push window, live
// pushes, and the bookkeeping of acks, checked deterministically.
#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <future>
#include <latch>
#include <mutex>

#include <nlohmann/json.hpp>

#include "../common/temp_dir.hpp"
#include "adapters/localbus/local_bus.hpp"
#include "adapters/sqlite/sqlite_store.hpp"
#include "chat/messaging.hpp"
#include "sessions/device_session.hpp"
#include "sessions/session_registry.hpp"
#include "transport/server.hpp"

namespace natter {
namespace {

using nlohmann::json;
constexpr auto kDeadline = std::chrono::seconds(10);

// A socket whose strand is a queue the test drains with run_until.
class ScriptedConnection final : public Connection {
public:
    void send(std::shared_ptr<const std::string> frame) override {
        post([this, frame] { frames.push_back(json::parse(*frame)); });
    }
    void close(int code, std::string) override {
        post([this, code] { close_code = code; });
    }
    void post(std::function<void()> fn) override {
        {
            std::lock_guard lock(mu_);
            queue_.push_back(std::move(fn));
        }
        cv_.notify_all();
    }
    // Runs strand work until `done` holds; false at the deadline.
    bool run_until(const std::function<bool()>& done) {
        auto until = std::chrono::steady_clock::now() + kDeadline;
        while (!done()) {
            std::unique_lock lock(mu_);
            if (!cv_.wait_until(lock, until, [&] { return !queue_.empty(); })) return false;
            auto fn = std::move(queue_.front());
            queue_.pop_front();
            lock.unlock();
            fn();
        }
        return true;
    }
    std::size_t messages() const {
        return std::size_t(std::count_if(frames.begin(), frames.end(), [](const json& f) { return f["type"] == "message"; }));
    }
    std::vector<json> frames;
    int close_code = 0;

private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> queue_;
};

class DeviceSessionTest : public ::testing::Test {
protected:
    void SetUp() override {
        alice_ = add_user("alice");
        bob_ = add_user("bob");
    }
    void TearDown() override {
        if (session_) session_->on_closed();
        session_.reset();
        pool_.join();  // reads still running must finish before the store goes
        // As natterd shuts down: the store finishes its queued jobs (an ack's
        // answer comes back through the service), so it goes before the
        // service, unhooked from it first.
        messaging_->detach_from_store();
        store_.reset();
        messaging_.reset();
    }

    Principal add_user(const std::string& name) {
        UserRecord u{ids_.next(clock_.now_ms()), name, "x", name, "", std::nullopt, clock_.now_ms()};
        EXPECT_TRUE(store_->create_user(u).ok());
        auto d = store_->open_device(u.user_id, std::nullopt, ids_.next(clock_.now_ms()), "d", clock_.now_ms(), 10);
        return Principal{u.user_id, d->device_id, 0};
    }

    // Alice sends `n` messages to bob and waits until they are committed.
    void send_to_bob(int n) {
        std::latch committed(n);
        for (int i = 0; i < n; ++i) {
            SendCommand cmd{"", "00000000-0000-4000-8000-" + std::to_string(100000000000 + next_++), bob_.user,
                            std::nullopt, "m" + std::to_string(i), std::nullopt};
            messaging_->send(alice_, cmd, [&](Result<StoredMessage> r) {
                EXPECT_TRUE(r.ok());
                committed.count_down();
            });
        }
        committed.wait();  // the store answers every send, ok or not
    }

    // A message from alice to bob written to the store but not published:
    // the test decides which bus events bob's session hears, and when.
    SendOutcome commit_unannounced(const std::string& body) {
        auto conv = direct_conversation(alice_.user, bob_.user);
        SendRequest req;
        req.conversation_id = conv.str();
        req.participants = {conv.a, conv.b};
        req.recipient = bob_.user;
        req.sender = alice_.user;
        req.sender_device = alice_.device;
        req.client_msg_id = "00000000-0000-4000-8000-" + std::to_string(100000000000 + next_++);
        req.payload_hash = req.client_msg_id;
        req.new_message_id = ids_.next(clock_.now_ms());
        req.to_json = json{{"user", std::to_string(bob_.user)}}.dump();
        req.body = body;
        req.ts = clock_.now_ms();
        std::promise<Result<SendOutcome>> done;
        store_->ports().messages->commit_send(req, [&](Result<SendOutcome> r) { done.set_value(std::move(r)); });
        auto r = done.get_future().get();
        EXPECT_TRUE(r.ok());
        return *r;
    }

    std::vector<std::string> bodies() const {
        std::vector<std::string> out;
        for (const auto& f : conn_->frames)
            if (f["type"] == "message") out.push_back(f["body"]);
        return out;
    }

    void connect_bob() {
        session_ = std::make_shared<DeviceSession>(bob_, conn_, *messaging_, registry_, limits_, clock_);
        conn_->post([this] { session_->start(); });
    }

    void ack(std::size_t from, std::size_t count) {
        json ids = json::array();
        for (std::size_t i = from; i < from + count; ++i) ids.push_back(conn_->frames[i]["message_id"]);
        auto text = json{{"type", "ack"}, {"message_ids", ids}}.dump();
        conn_->post([this, text] { session_->on_text(text); });
    }

    testutil::TempDir dir_;
    SystemClock clock_;
    IdGenerator ids_{1};
    Limits limits_ = [] {
        Limits l;
        l.push_window = 16;
        l.send_burst = 1e6;
        return l;
    }();
    std::unique_ptr<sqlite::SqliteStore> store_ =
        std::make_unique<sqlite::SqliteStore>(sqlite::SqliteConfig{dir_.file("natter.db"), false});
    localbus::LocalBus bus_;
    SessionRegistry registry_{bus_};
    BlockingPool pool_{2};
    std::unique_ptr<MessagingService> messaging_ = std::make_unique<MessagingService>(
        store_->ports(), bus_, ids_, clock_, limits_, [this](std::function<void()> fn) { pool_.post(std::move(fn)); });
    std::shared_ptr<ScriptedConnection> conn_ = std::make_shared<ScriptedConnection>();
    std::shared_ptr<DeviceSession> session_;
    Principal alice_, bob_;
    int next_ = 0;
};

TEST_F(DeviceSessionTest, TheWindowCapsUnackedPushesAndAcksRefillIt) {
    send_to_bob(40);
    connect_bob();
    ASSERT_TRUE(conn_->run_until([&] { return conn_->messages() == 16 && session_->in_flight() == 16; }));
    // Nothing more arrives until an ack: run whatever is queued, then look.
    conn_->post([] {});
    ASSERT_TRUE(conn_->run_until([&] { return true; }));
    EXPECT_EQ(conn_->messages(), 16u);
    ack(0, 10);
    ASSERT_TRUE(conn_->run_until([&] { return conn_->messages() == 26; }));
    EXPECT_EQ(session_->in_flight(), 16u);
    for (std::size_t i = 0; i < 26; ++i) EXPECT_EQ(conn_->frames[i]["seq"], int(i) + 1);
}

TEST_F(DeviceSessionTest, ACaughtUpDeviceGetsLivePushesAndForgetsWhatItAcked) {
    connect_bob();
    ASSERT_TRUE(conn_->run_until([&] { return !conn_->frames.empty(); }));
    EXPECT_EQ(conn_->frames[0]["type"], "sync_done");
    for (int round = 0; round < 20; ++round) {
        send_to_bob(5);
        std::size_t before = conn_->frames.size();
        ASSERT_TRUE(conn_->run_until([&] { return conn_->frames.size() == before + 5; }));
        ack(before, 5);
        ASSERT_TRUE(conn_->run_until([&] { return session_->in_flight() == 0 && session_->acks_in_doubt() == 0; }))
            << "round " << round << ": " << session_->acks_in_doubt() << " acked ids still kept";
    }
    EXPECT_EQ(store_->inbox_depth(bob_.user, bob_.device), 0u);
}

// Each inbox row names the device's previous one: a socket that hears of a
// row whose predecessor it never pushed reads the inbox rather than skip it
// (an event lost while the bus reconnected, or one overtaken by another
// node's later event).
TEST_F(DeviceSessionTest, AnEventWhosePredecessorWasNeverPushedBringsBothInOrder) {
    connect_bob();
    ASSERT_TRUE(conn_->run_until([&] { return !conn_->frames.empty(); }));  // sync_done
    auto first = commit_unannounced("first");
    auto second = commit_unannounced("second");
    ASSERT_EQ(second.targets.size(), 1u);
    EXPECT_EQ(second.targets[0].prev_inbox_id, first.targets[0].inbox_id);
    messaging_->publish(second);  // the first one's event never comes
    ASSERT_TRUE(conn_->run_until([&] { return conn_->messages() == 2; }));
    EXPECT_EQ(bodies(), (std::vector<std::string>{"first", "second"}));
}

TEST_F(DeviceSessionTest, EventsArrivingOutOfOrderArePushedOnceInOrder) {
    connect_bob();
    ASSERT_TRUE(conn_->run_until([&] { return !conn_->frames.empty(); }));
    auto first = commit_unannounced("first");
    auto second = commit_unannounced("second");
    messaging_->publish(second);
    messaging_->publish(first);  // late: already brought by the read
    ASSERT_TRUE(conn_->run_until([&] { return conn_->messages() == 2; }));
    auto third = commit_unannounced("third");
    messaging_->publish(third);  // in order again: pushed straight from the event
    ASSERT_TRUE(conn_->run_until([&] { return conn_->messages() == 3; }));
    EXPECT_EQ(bodies(), (std::vector<std::string>{"first", "second", "third"}));
}

}  // namespace
}  // namespace natter
