#pragma once
// The Bus port on Redis pub/sub. A channel lives on the instance the ring
// picks for its name. The first local subscription of a channel sends
// SUBSCRIBE on that instance's subscriber connection, the last one
// UNSUBSCRIBE; in between, local subscribers share it. A message is decoded
// once (bus_codec) and handed to the channel's handlers, in order, on the
// delivery thread.
//
// subscribe() returns once Redis confirmed the channel, or after
// subscribe_wait, or at once when the instance is known to be down: in the
// last two cases the handlers get a resync when the channel is confirmed
// later, so whatever was published meanwhile is read from the store. Called
// on the I/O thread it cannot wait (never the case: no user code runs there).
// Destroying a Subscription waits for a call of its handler in progress on
// the delivery thread, unless it is that thread; after it returns, the
// handler is not called again.
//
// publish() encodes on the caller's thread and PUBLISHes on the instance's
// commands connection: one connection, so one publisher's events on one
// channel arrive in order, and pipelined. While the instance is down, or
// max_pending_publishes are unanswered, a publish is dropped and counted.
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "adapters/redis/cluster_core.hpp"
#include "ports/bus.hpp"

namespace natter::redis {

class RedisBus final : public Bus {
public:
    explicit RedisBus(RedisCluster::Core& core);
    ~RedisBus() override;

    std::unique_ptr<Subscription> subscribe(Channel channel, Handler handler) override;
    void publish(Channel channel, std::shared_ptr<const BusEvent> event) override;

    // From the connections, on the I/O thread.
    void subscriber_up(std::size_t instance);
    void subscriber_down(std::size_t instance);
    void commands_up(std::size_t instance);

private:
    struct Slot;
    struct ChannelState;
    struct Side;
    class Sub;

    // Any thread.
    void unsubscribe(const std::shared_ptr<ChannelState>& channel, std::uint64_t token);
    // I/O thread.
    void want(const std::shared_ptr<ChannelState>& channel);
    void unwant(const std::shared_ptr<ChannelState>& channel);
    void send_subscribe(Side& side, const std::vector<std::shared_ptr<ChannelState>>& channels);
    void send_publish(std::size_t instance, const std::string& channel, const std::string& payload);
    void missed(Side& side, const std::string& channel);  // its event may not have gone out
    void confirmed(Side& side, std::string_view channel);
    void received(Side& side, std::string_view channel, std::string_view payload);
    static void on_subscriber_reply(redisAsyncContext* ac, void* reply, void* privdata);
    static void on_publish_reply(redisAsyncContext* ac, void* reply, void* privdata);
    // Delivery thread.
    void dispatch(const ChannelState& channel, const std::shared_ptr<const BusEvent>& event);

    RedisCluster::Core& core_;
    std::mutex mu_;
    std::condition_variable cv_;  // a channel confirmed, or an instance down
    std::uint64_t next_token_ = 1;
    std::unordered_map<std::string, std::shared_ptr<ChannelState>> channels_;  // with local subscribers
    std::vector<char> down_;                    // per instance: subscriber known down (mu_)
    std::vector<std::unique_ptr<Side>> sides_;  // per instance, I/O thread only
};

}  // namespace natter::redis
