#pragma once
// The cluster deployment's bus and presence store on N Redis instances
// (standalone servers, not Redis Cluster): each channel, presence key and
// node lease lives on the instance the consistent-hash ring (core/hash_ring)
// picks for it, the instance's `name` being its identity on the ring:
//   channel `user:{id}` / `presence:{id}`  -> ring key "user:{id}" / "presence:{id}"
//   presence hash `presence:{id}`           -> ring key "presence:{id}" (with its presence channel)
//   node lease `node:{id}`                  -> ring key "node:{id}"
// So a name must stay with its data: moving an instance to another host keeps
// its name; renaming it moves about 1/n of the channels and presence keys.
//
// One RedisCluster per node (natterd process; a test may make two to play
// two nodes). It owns two threads: the I/O thread, which alone drives
// hiredis (two connections per instance: one subscriber, one for commands,
// every command pipelined), and the delivery thread, which runs bus
// handlers and presence callbacks, in order, one at a time. Handlers never
// run on the I/O thread, so a handler waiting on a lock that a subscribe()
// caller holds delays other handlers, never the confirmation that caller
// awaits. The delivery queue is not bounded: handlers must stay quick.
//
// When an instance is down its connections retry with exponential backoff
// and jitter; meanwhile publishes to it are dropped (counted), presence calls
// answer "nothing changed" (see RedisPresence), and once it is back every
// channel with local subscribers is subscribed again and each of its
// handlers gets a BusEvent::Kind::resync.
//
// No Asio or hiredis in this header.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/hash_ring.hpp"
#include "ports/bus.hpp"
#include "ports/presence.hpp"

namespace natter::redis {

struct RedisInstance {
    std::string name;  // identity on the ring: unique, never empty
    std::string host;  // an address or a name resolvable without delay (resolved on the I/O thread)
    std::uint16_t port = 6379;
};

struct RedisConfig {
    std::vector<RedisInstance> instances;
    std::string password;  // AUTH on every connection when not empty
    std::size_t vnodes = HashRing::kDefaultVnodes;  // points per instance on the ring: fixed for a cluster's life

    // Reconnection: the n-th retry waits a random time in [d/2, d], d = min(max, min * 2^n).
    std::chrono::milliseconds reconnect_min{50};
    std::chrono::milliseconds reconnect_max{2000};
    // A connection that is not answering PING (or AUTH) this long after the
    // connect started is dropped and retried.
    std::chrono::milliseconds connect_timeout{2000};
    // A connection with commands outstanding and no reply for this long is
    // dropped (its callbacks get "no answer") and retried: a hung server.
    std::chrono::milliseconds command_timeout{5000};
    // subscribe() waits this long at most for Redis to confirm a new channel.
    std::chrono::milliseconds subscribe_wait{2000};
    // Publishes written to an instance but not yet answered, at most; past
    // that (a stalled server) new ones are dropped, as while it is down.
    std::size_t max_pending_publishes = 100000;
    // How long a user's presence hash outlives its last change, so an
    // offline user's last_seen and changed_at are remembered.
    std::chrono::milliseconds presence_retention{std::chrono::hours(24 * 30)};
};

// What is wrong with `config`, in words an operator can act on; empty when
// nothing is. RedisCluster's constructor throws std::invalid_argument with it.
std::string validate(const RedisConfig& config);

// Counters for metrics, since the cluster object was made.
struct RedisStats {
    std::size_t instances = 0;
    std::size_t connected_instances = 0;     // both connections up
    std::uint64_t publishes = 0;             // PUBLISH commands written
    std::uint64_t dropped_publishes = 0;     // instance down, or too many outstanding
    std::uint64_t reconnects = 0;            // connections re-established after a loss
    std::uint64_t malformed_events = 0;      // payloads received that did not decode (dropped)
    std::uint64_t resyncs = 0;               // resync events handed to handlers
};

// A node's exclusive claim on its node_id, refreshed while this object lives
// and released when it goes. See RedisCluster::claim_node.
class NodeLease {
public:
    ~NodeLease();  // releases the key (when still ours); waits 1 s at most
    NodeLease(const NodeLease&) = delete;
    NodeLease& operator=(const NodeLease&) = delete;
    // False once a refresh found the key held by another owner.
    bool held() const;

    struct State;

private:
    friend class RedisCluster;
    explicit NodeLease(std::shared_ptr<State> state);
    std::shared_ptr<State> state_;
};

class RedisCluster {
public:
    // Validates the config (std::invalid_argument when bad), starts the
    // threads and begins connecting to every instance; does not wait for them
    // (see wait_connected).
    explicit RedisCluster(RedisConfig config);
    // Closes the connections: outstanding presence callbacks get their "no
    // answer" result on the delivery thread, which then stops. Destroy the
    // users of bus() and presence() first (no subscribe/publish during it).
    ~RedisCluster();
    RedisCluster(const RedisCluster&) = delete;
    RedisCluster& operator=(const RedisCluster&) = delete;

    // The Bus and PresenceStore ports, alive as long as this object.
    Bus& bus();
    PresenceStore& presence();

    // True once every instance's connections are up, false at the deadline.
    bool wait_connected(std::chrono::milliseconds deadline);

    // Claims `node:{node_id}` for `owner_token` (SET NX PX ttl on the ring's
    // instance for it), then refreshes it every ttl/3 while the lease lives;
    // claiming again with the token that holds it succeeds. Blocks up to
    // `wait`. Throws std::runtime_error saying why when another owner holds
    // it (with how long its claim has left) or the instance does not answer.
    // `on_lost` runs (on the delivery thread) if a refresh later finds the key
    // held by another owner; when the key merely vanished (the instance lost
    // its data), the refresh takes it again.
    std::unique_ptr<NodeLease> claim_node(const std::string& node_id, const std::string& owner_token,
                                          std::chrono::milliseconds ttl, std::function<void()> on_lost = {},
                                          std::chrono::milliseconds wait = std::chrono::seconds(2));

    RedisStats stats() const;

    struct Core;

private:
    std::unique_ptr<Core> core_;
};

}  // namespace natter::redis
