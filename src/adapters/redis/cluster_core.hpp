#pragma once
// What the Redis adapter's parts share: the instances and their
// connections, the ring, the two threads, the counters. Internal (includes
// Asio and hiredis through connection.hpp); RedisCluster owns one.
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "adapters/redis/connection.hpp"
#include "adapters/redis/redis_cluster.hpp"
#include "core/hash_ring.hpp"

namespace natter::redis {

class RedisBus;
class RedisPresence;

struct Counters {
    std::atomic<std::uint64_t> publishes{0};
    std::atomic<std::uint64_t> dropped_publishes{0};
    std::atomic<std::uint64_t> reconnects{0};
    std::atomic<std::uint64_t> malformed_events{0};
    std::atomic<std::uint64_t> resyncs{0};
};

struct Instance {
    RedisInstance where;
    std::unique_ptr<Connection> subscriber;  // SUBSCRIBE / UNSUBSCRIBE only
    std::unique_ptr<Connection> commands;    // PUBLISH, presence scripts, the node lease
};

struct RedisCluster::Core {
    explicit Core(RedisConfig config);
    ~Core();

    // Where a key (a channel name, "presence:{id}", "node:{id}") lives.
    std::size_t instance_of(std::string_view key) const { return ring.shard_of(key); }
    // On the I/O thread (hiredis) / the delivery thread (handlers, callbacks).
    template <class F>
    void on_io(F&& f) { boost::asio::post(io, std::forward<F>(f)); }
    template <class F>
    void deliver(F&& f) { boost::asio::post(delivery, std::forward<F>(f)); }
    bool in_io_thread() const { return std::this_thread::get_id() == io_thread.get_id(); }
    bool in_delivery_thread() const { return std::this_thread::get_id() == delivery_thread.get_id(); }

    void start();
    void stop();
    // Connection states: changed() wakes whoever waits on state_cv for them.
    void changed();
    bool all_up() const;
    std::mutex state_mu;
    std::condition_variable state_cv;

    RedisConfig config;
    HashRing ring;
    Counters counters;
    boost::asio::io_context io{1};
    boost::asio::io_context delivery{1};
    std::vector<Instance> instances;
    std::unique_ptr<RedisBus> bus;
    std::unique_ptr<RedisPresence> presence;

private:
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> io_work, delivery_work;
    std::thread io_thread, delivery_thread;
    bool stopped = false;
};

}  // namespace natter::redis
