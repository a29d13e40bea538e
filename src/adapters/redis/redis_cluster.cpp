#include "adapters/redis/redis_cluster.hpp"

#include <condition_variable>
#include <future>
#include <mutex>
#include <stdexcept>
#include <unordered_set>

#include "adapters/redis/cluster_core.hpp"
#include "adapters/redis/redis_bus.hpp"
#include "adapters/redis/redis_presence.hpp"

namespace natter::redis {

std::string validate(const RedisConfig& c) {
    if (c.instances.empty()) return "redis: no instances: list at least one {name, host, port}";
    std::unordered_set<std::string> names;
    for (std::size_t i = 0; i < c.instances.size(); ++i) {
        const auto& in = c.instances[i];
        const auto which = "redis: instance " + std::to_string(i + 1);
        if (in.name.empty()) return which + " has no name (its identity on the ring; keep it when the instance moves)";
        if (!names.insert(in.name).second) return "redis: instance name \"" + in.name + "\" is used twice";
        if (in.host.empty()) return which + " (\"" + in.name + "\") has no host";
        if (in.port == 0) return which + " (\"" + in.name + "\") has no port";
    }
    if (c.vnodes < 1 || c.vnodes > HashRing::kMaxVnodes)
        return "redis: vnodes must be 1.." + std::to_string(HashRing::kMaxVnodes);
    if (c.reconnect_min.count() <= 0 || c.reconnect_max < c.reconnect_min)
        return "redis: reconnect_min must be > 0 and reconnect_max >= reconnect_min";
    if (c.connect_timeout.count() <= 0 || c.command_timeout.count() <= 0)
        return "redis: connect_timeout and command_timeout must be > 0";
    if (c.subscribe_wait.count() < 0) return "redis: subscribe_wait must be >= 0";
    if (c.max_pending_publishes == 0) return "redis: max_pending_publishes must be > 0";
    if (c.presence_retention.count() <= 0) return "redis: presence_retention must be > 0";
    return {};
}

namespace {

std::vector<std::string> names_of(const RedisConfig& c) {
    if (auto why = validate(c); !why.empty()) throw std::invalid_argument(why);
    std::vector<std::string> names;
    for (const auto& in : c.instances) names.push_back(in.name);
    return names;
}

ConnectionSettings settings_for(const RedisConfig& c, const RedisInstance& in, const char* role) {
    return ConnectionSettings{in.name, role, in.host, in.port, c.password, c.connect_timeout, c.command_timeout,
                              c.reconnect_min, c.reconnect_max};
}

}  // namespace

RedisCluster::Core::Core(RedisConfig c) : config(std::move(c)), ring(names_of(config), config.vnodes) {
    for (const auto& in : config.instances) {
        Instance instance{in, std::make_unique<Connection>(io, settings_for(config, in, "subscriber"), counters.reconnects),
                          std::make_unique<Connection>(io, settings_for(config, in, "commands"), counters.reconnects)};
        instances.push_back(std::move(instance));
    }
    bus = std::make_unique<RedisBus>(*this);
    presence = std::make_unique<RedisPresence>(*this);
    for (std::size_t i = 0; i < instances.size(); ++i) {
        auto& in = instances[i];
        in.subscriber->on_up = [this, i] {
            bus->subscriber_up(i);
            changed();
        };
        in.subscriber->on_down = [this, i] {
            bus->subscriber_down(i);
            changed();
        };
        in.commands->on_up = [this, i] {
            presence->commands_up(i);  // loads the scripts: before anything else on it
            bus->commands_up(i);
            changed();
        };
        in.commands->on_down = [this] { changed(); };
    }
}

RedisCluster::Core::~Core() { stop(); }

void RedisCluster::Core::changed() {
    { std::lock_guard lock(state_mu); }
    state_cv.notify_all();
}

void RedisCluster::Core::start() {
    io_work.emplace(io.get_executor());
    delivery_work.emplace(delivery.get_executor());
    io_thread = std::thread([this] { io.run(); });
    delivery_thread = std::thread([this] { delivery.run(); });
    on_io([this] {
        for (auto& in : instances) {
            in.subscriber->start();
            in.commands->start();
        }
    });
}

void RedisCluster::Core::stop() {
    if (stopped || !io_thread.joinable()) return;
    stopped = true;
    // Freeing the connections calls their outstanding callbacks (presence
    // ones post to the delivery thread) and cancels their socket waits; the
    // I/O thread stops once those have run (queued before the stop), even
    // if a lease's timer is still there.
    on_io([this] {
        for (auto& in : instances) {
            in.subscriber->shutdown();
            in.commands->shutdown();
        }
        on_io([this] { io.stop(); });
    });
    io_work.reset();
    io_thread.join();
    delivery_work.reset();
    delivery_thread.join();
}

bool RedisCluster::Core::all_up() const {
    for (const auto& in : instances)
        if (!in.subscriber->is_up() || !in.commands->is_up()) return false;
    return true;
}

RedisCluster::RedisCluster(RedisConfig config) : core_(std::make_unique<Core>(std::move(config))) { core_->start(); }

RedisCluster::~RedisCluster() { core_->stop(); }

Bus& RedisCluster::bus() { return *core_->bus; }
PresenceStore& RedisCluster::presence() { return *core_->presence; }

bool RedisCluster::wait_connected(std::chrono::milliseconds deadline) {
    std::unique_lock lock(core_->state_mu);
    return core_->state_cv.wait_for(lock, deadline, [this] { return core_->all_up(); });
}

RedisStats RedisCluster::stats() const {
    RedisStats s;
    s.instances = core_->instances.size();
    for (const auto& in : core_->instances)
        if (in.subscriber->is_up() && in.commands->is_up()) ++s.connected_instances;
    const auto& c = core_->counters;
    s.publishes = c.publishes.load(std::memory_order_relaxed);
    s.dropped_publishes = c.dropped_publishes.load(std::memory_order_relaxed);
    s.reconnects = c.reconnects.load(std::memory_order_relaxed);
    s.malformed_events = c.malformed_events.load(std::memory_order_relaxed);
    s.resyncs = c.resyncs.load(std::memory_order_relaxed);
    return s;
}

}  // namespace natter::redis
