#include "adapters/redis/redis_bus.hpp"

#include <atomic>
#include <chrono>
#include <deque>
#include <unordered_set>

#include "adapters/redis/bus_codec.hpp"
#include "obs/log.hpp"

namespace natter::redis {

namespace {
constexpr std::size_t kSubscribeBatch = 512;  // channels per SUBSCRIBE when resubscribing
}  // namespace

// One handler. `mu` is held while it runs, so an unsubscribe can wait it out.
struct RedisBus::Slot {
    explicit Slot(Handler h) : handler(std::move(h)) {}
    Handler handler;
    std::mutex mu;
    std::atomic<bool> alive{true};
};

// A channel with local subscribers, from its first subscribe to its last
// unsubscribe (a later subscribe makes a new one).
struct RedisBus::ChannelState {
    ChannelState(std::string n, std::size_t i) : name(std::move(n)), instance(i) {}
    const std::string name;
    const std::size_t instance;
    // Under the bus's mu_:
    std::map<std::uint64_t, std::shared_ptr<Slot>> handlers;
    bool active = false;  // confirmed by Redis on the current connection
    bool resync = false;  // its next confirmation is followed by a resync
    // I/O thread: the subscriber connection epoch it was subscribed on (0: none).
    std::uint64_t sent_on = 0;
};

// What the I/O thread keeps per instance.
struct RedisBus::Side {
    RedisBus* bus = nullptr;
    std::size_t index = 0;
    Connection* subscriber = nullptr;
    Connection* commands = nullptr;
    std::uint64_t epoch = 0;  // subscriber connections so far
    bool down = false;
    std::unordered_map<std::string, std::shared_ptr<ChannelState>> live;  // wanted on Redis
    // SUBSCRIBEs sent and not confirmed yet, per channel in the order sent.
    std::unordered_map<std::string, std::deque<std::shared_ptr<ChannelState>>> awaiting;
    std::size_t pending_publishes = 0;
    std::uint64_t dropped_while_down = 0;
    // The channels of the publishes written and not answered, in order
    // (Redis answers in order): a connection lost with some outstanding
    // cannot tell whether they went out.
    std::deque<std::string> in_flight;
    // Channels whose events may not have gone out (dropped, or lost with
    // the connection): once the connection is back, each gets a resync
    // event, so the sockets listening on it on other nodes read the store.
    std::unordered_set<std::string> to_resync;
    bool resync_overflow = false;  // more than kMaxResync: some are not told
};

class RedisBus::Sub final : public Subscription {
public:
    Sub(RedisBus* bus, std::shared_ptr<ChannelState> channel, std::uint64_t token)
        : bus_(bus), channel_(std::move(channel)), token_(token) {}
    ~Sub() override { bus_->unsubscribe(channel_, token_); }

private:
    RedisBus* bus_;
    std::shared_ptr<ChannelState> channel_;
    std::uint64_t token_;
};

RedisBus::RedisBus(RedisCluster::Core& core) : core_(core), down_(core.instances.size(), 0) {
    for (std::size_t i = 0; i < core.instances.size(); ++i) {
        auto side = std::make_unique<Side>();
        side->bus = this;
        side->index = i;
        side->subscriber = core.instances[i].subscriber.get();
        side->commands = core.instances[i].commands.get();
        sides_.push_back(std::move(side));
    }
}

RedisBus::~RedisBus() = default;

std::unique_ptr<Subscription> RedisBus::subscribe(Channel channel, Handler handler) {
    auto name = channel.name();
    auto slot = std::make_shared<Slot>(std::move(handler));
    std::unique_lock lock(mu_);
    auto& state = channels_[name];
    if (!state) {
        const auto instance = core_.instance_of(name);
        state = std::make_shared<ChannelState>(name, instance);
        // Posted under mu_: the I/O thread sees wants and unwants in the order they happened.
        core_.on_io([this, state] { want(state); });
    }
    auto token = next_token_++;
    state->handlers.emplace(token, std::move(slot));
    auto channel_state = state;
    auto sub = std::make_unique<Sub>(this, channel_state, token);
    if (core_.in_io_thread()) return sub;  // it would wait for itself
    const auto until = std::chrono::steady_clock::now() + core_.config.subscribe_wait;
    cv_.wait_until(lock, until, [&] { return channel_state->active || down_[channel_state->instance]; });
    // Not confirmed in time: whatever it missed is announced when it is.
    if (!channel_state->active) channel_state->resync = true;
    return sub;
}

void RedisBus::unsubscribe(const std::shared_ptr<ChannelState>& channel, std::uint64_t token) {
    std::shared_ptr<Slot> slot;
    {
        std::lock_guard lock(mu_);
        auto it = channel->handlers.find(token);
        if (it == channel->handlers.end()) return;
        slot = std::move(it->second);
        channel->handlers.erase(it);
        if (channel->handlers.empty()) {
            if (auto c = channels_.find(channel->name); c != channels_.end() && c->second == channel) channels_.erase(c);
            core_.on_io([this, channel] { unwant(channel); });
        }
    }
    // On the delivery thread no other handler runs now; elsewhere, wait for
    // the one running (if it is this one) to return.
    if (core_.in_delivery_thread()) {
        slot->alive = false;
    } else {
        std::lock_guard running(slot->mu);
        slot->alive = false;
    }
}

void RedisBus::want(const std::shared_ptr<ChannelState>& channel) {
    auto& side = *sides_[channel->instance];
    side.live[channel->name] = channel;
    if (side.subscriber->up()) send_subscribe(side, {channel});
}

void RedisBus::unwant(const std::shared_ptr<ChannelState>& channel) {
    auto& side = *sides_[channel->instance];
    if (auto it = side.live.find(channel->name); it != side.live.end() && it->second == channel) side.live.erase(it);
    // UNSUBSCRIBE only what this connection was sent a SUBSCRIBE for, once:
    // hiredis 0.14 asserts on an unsubscribe reply it no longer expects.
    if (channel->sent_on != side.epoch || !side.subscriber->up()) return;
    channel->sent_on = 0;
    const char* argv[] = {"UNSUBSCRIBE", channel->name.c_str()};
    const std::size_t lens[] = {11, channel->name.size()};
    if (side.subscriber->command_raw(2, argv, lens, &RedisBus::on_subscriber_reply, &side)) side.subscriber->expect(1);
}

void RedisBus::send_subscribe(Side& side, const std::vector<std::shared_ptr<ChannelState>>& channels) {
    std::vector<const char*> argv{"SUBSCRIBE"};
    std::vector<std::size_t> lens{9};
    for (const auto& c : channels) {
        argv.push_back(c->name.c_str());
        lens.push_back(c->name.size());
    }
    if (!side.subscriber->command_raw(int(argv.size()), argv.data(), lens.data(), &RedisBus::on_subscriber_reply, &side))
        return;
    side.subscriber->expect(channels.size());
    for (const auto& c : channels) {
        c->sent_on = side.epoch;
        side.awaiting[c->name].push_back(c);
    }
}

void RedisBus::subscriber_up(std::size_t instance) {
    auto& side = *sides_[instance];
    ++side.epoch;
    side.down = false;
    {
        std::lock_guard lock(mu_);
        down_[instance] = 0;
    }
    // Every channel with local subscribers, again; each one's handlers get
    // a resync once it is confirmed (see confirmed()).
    std::vector<std::shared_ptr<ChannelState>> batch;
    for (const auto& [name, channel] : side.live) {
        batch.push_back(channel);
        if (batch.size() == kSubscribeBatch) {
            send_subscribe(side, batch);
            batch.clear();
        }
    }
    if (!batch.empty()) send_subscribe(side, batch);
}

void RedisBus::subscriber_down(std::size_t instance) {
    auto& side = *sides_[instance];
    if (side.down) return;  // a retry failing again: nothing new
    side.down = true;
    side.awaiting.clear();
    {
        std::lock_guard lock(mu_);
        down_[instance] = 1;
        for (auto& [name, channel] : side.live) {
            channel->sent_on = 0;
            if (channel->active) {
                channel->active = false;
                channel->resync = true;
            }
        }
    }
    cv_.notify_all();
}

void RedisBus::confirmed(Side& side, std::string_view name) {
    auto q = side.awaiting.find(std::string(name));
    if (q == side.awaiting.end() || q->second.empty()) return;
    auto channel = std::move(q->second.front());
    q->second.pop_front();
    if (q->second.empty()) side.awaiting.erase(q);
    bool resync = false;
    {
        std::lock_guard lock(mu_);
        resync = channel->resync && !channel->handlers.empty();
        channel->resync = false;
        channel->active = true;
    }
    cv_.notify_all();
    if (!resync) return;
    auto event = std::make_shared<BusEvent>();
    event->kind = BusEvent::Kind::resync;
    core_.deliver([this, channel, event = std::shared_ptr<const BusEvent>(std::move(event))] { dispatch(*channel, event); });
}

void RedisBus::received(Side& side, std::string_view name, std::string_view payload) {
    auto it = side.live.find(std::string(name));
    if (it == side.live.end()) return;  // unsubscribed meanwhile
    std::string error;
    auto event = decode_bus_event(payload, error);
    if (!event) {
        // Untrusted bytes: dropped, and logged without flooding the log.
        auto n = core_.counters.malformed_events.fetch_add(1, std::memory_order_relaxed) + 1;
        if (n <= 10 || n % 1000 == 0)
            log_event(LogLevel::warn, "redis.malformed_event",
                      {{"instance", side.subscriber->settings().instance}, {"channel", std::string(name)},
                       {"bytes", payload.size()}, {"error", error}, {"malformed_so_far", n}});
        return;
    }
    core_.deliver([this, channel = it->second, event = std::shared_ptr<const BusEvent>(std::move(event))] {
        dispatch(*channel, event);
    });
}

void RedisBus::on_subscriber_reply(redisAsyncContext*, void* reply, void* privdata) {
    auto& side = *static_cast<Side*>(privdata);
    auto* r = static_cast<redisReply*>(reply);
    // nullptr: the connection is going (subscriber_down handles that).
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3) return;
    auto* kind = r->element[0];
    auto* channel = r->element[1];
    if (kind->type != REDIS_REPLY_STRING || channel->type != REDIS_REPLY_STRING) return;
    const std::string_view what(kind->str, kind->len), name(channel->str, channel->len);
    if (what == "message") {
        auto* payload = r->element[2];
        if (payload->type == REDIS_REPLY_STRING) side.bus->received(side, name, std::string_view(payload->str, payload->len));
    } else if (what == "subscribe") {
        side.subscriber->replied();
        side.bus->confirmed(side, name);
    } else if (what == "unsubscribe") {
        side.subscriber->replied();
    }
}

void RedisBus::publish(Channel channel, std::shared_ptr<const BusEvent> event) {
    auto name = channel.name();
    const auto instance = core_.instance_of(name);
    core_.on_io([this, instance, name = std::move(name), payload = encode_bus_event(*event)] {
        send_publish(instance, name, payload);
    });
}

namespace {
constexpr std::size_t kMaxResync = 100000;  // channels remembered per instance for a resync
}

void RedisBus::missed(Side& side, const std::string& channel) {
    if (side.to_resync.size() < kMaxResync) side.to_resync.insert(channel);
    else side.resync_overflow = true;
}

void RedisBus::send_publish(std::size_t instance, const std::string& channel, const std::string& payload) {
    auto& side = *sides_[instance];
    const char* argv[] = {"PUBLISH", channel.data(), payload.data()};
    const std::size_t lens[] = {7, channel.size(), payload.size()};
    // Down or stalled: the store has the data, and the channel gets a resync
    // once the connection is back.
    if (side.pending_publishes >= core_.config.max_pending_publishes ||
        !side.commands->command_raw(3, argv, lens, &RedisBus::on_publish_reply, &side)) {
        core_.counters.dropped_publishes.fetch_add(1, std::memory_order_relaxed);
        ++side.dropped_while_down;
        missed(side, channel);
        return;
    }
    ++side.pending_publishes;
    side.in_flight.push_back(channel);
    side.commands->expect(1);
    core_.counters.publishes.fetch_add(1, std::memory_order_relaxed);
}

void RedisBus::on_publish_reply(redisAsyncContext*, void* reply, void* privdata) {
    auto& side = *static_cast<Side*>(privdata);
    if (side.pending_publishes > 0) --side.pending_publishes;
    if (!side.in_flight.empty()) {
        // nullptr: the connection went with this publish unanswered.
        if (!reply) side.bus->missed(side, side.in_flight.front());
        side.in_flight.pop_front();
    }
    if (reply) side.commands->replied();
}

void RedisBus::commands_up(std::size_t instance) {
    auto& side = *sides_[instance];
    if (side.dropped_while_down > 0 || !side.to_resync.empty())
        log_event(LogLevel::warn, "redis.publishes_dropped",
                  {{"instance", side.commands->settings().instance}, {"count", side.dropped_while_down},
                   {"channels_resynced", side.to_resync.size()}, {"channels_not_told", side.resync_overflow}});
    if (side.resync_overflow)
        log_event(LogLevel::error, "redis.resync_overflow",
                  {{"instance", side.commands->settings().instance},
                   {"hint", "more channels missed events than are remembered: their sockets catch up at their next "
                            "message or reconnect"}});
    side.dropped_while_down = 0;
    side.resync_overflow = false;
    // Tell every channel that may have missed an event to read the store.
    auto channels = std::move(side.to_resync);
    side.to_resync.clear();
    if (channels.empty()) return;
    BusEvent resync;
    resync.kind = BusEvent::Kind::resync;
    const auto payload = encode_bus_event(resync);
    for (const auto& channel : channels) send_publish(instance, channel, payload);
}

void RedisBus::dispatch(const ChannelState& channel, const std::shared_ptr<const BusEvent>& event) {
    std::vector<std::shared_ptr<Slot>> slots;
    {
        std::lock_guard lock(mu_);
        slots.reserve(channel.handlers.size());
        for (const auto& [token, slot] : channel.handlers) slots.push_back(slot);
    }
    if (event->kind == BusEvent::Kind::resync)
        core_.counters.resyncs.fetch_add(slots.size(), std::memory_order_relaxed);
    for (const auto& slot : slots) {
        std::lock_guard running(slot->mu);
        if (!slot->alive) continue;
        try {
            slot->handler(event);
        } catch (const std::exception& e) {
            log_event(LogLevel::error, "redis.handler_failed", {{"channel", channel.name}, {"error", e.what()}});
        }
    }
}

}  // namespace natter::redis
