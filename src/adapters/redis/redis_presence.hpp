#pragma once
// The PresenceStore port on Redis: a hash per user and a sorted set of
// holder deadlines per instance, changed only by Lua scripts (scripts.hpp),
// each atomic on the user's instance, so when nodes race (two sockets
// closing on two nodes, two nodes expiring the same dead holder) each
// online/offline transition is reported by exactly one call, and changed_at
// strictly increases per user.
//
// Each call runs on the I/O thread; refresh, status and expire send one
// script per instance (in chunks, pipelined), not one per user. Callbacks run
// on the delivery thread, exactly once, also when an instance is down or
// stops answering (command_timeout): then heartbeat and remove report
// nullopt (nothing changed, as far as we know), status reports those users
// offline with last_seen 0 and changed_at 0 (unknown; the service falls back
// to the devices' last_seen), and expire reports none of that instance's
// users (a later expire, once it is back, does).
//
// `now` is the caller's clock (deadlines are compared with the `now` of
// expire); the hash's own TTL (Redis' clock) is ttl + presence_retention,
// renewed on each change, only to forget users nobody has seen for long.
#include <mutex>
#include <vector>

#include "adapters/redis/cluster_core.hpp"
#include "adapters/redis/scripts.hpp"
#include "ports/presence.hpp"

namespace natter::redis {

class RedisPresence final : public PresenceStore {
public:
    explicit RedisPresence(RedisCluster::Core& core) : core_(core) {}

    void heartbeat(UserId user, const std::string& holder, std::int64_t now, std::int64_t ttl_ms, Change done) override;
    void refresh(const std::vector<std::pair<UserId, std::string>>& holders, std::int64_t now,
                 std::int64_t ttl_ms) override;
    void remove(UserId user, const std::string& holder, std::int64_t now, Change done) override;
    void expire(std::int64_t now, std::function<void(std::vector<PresenceStatus>)> done) override;
    void status(const std::vector<UserId>& users, std::int64_t now,
                std::function<void(std::vector<PresenceStatus>)> done) override;
    void on_reset(std::function<void()> listener) override;

    // From the commands connection as it comes up, on the I/O thread: the
    // instance may have lost holders (see on_reset).
    void commands_up(std::size_t instance);

private:
    struct Expiry;
    void expire_round(std::shared_ptr<Expiry> job, std::size_t instance, int round);
    void change(UserId user, bool online, std::int64_t now, const Script& script,
                std::shared_ptr<const std::vector<std::string>> params, Change done);
    Connection& commands(std::size_t instance) { return *core_.instances[instance].commands; }

    RedisCluster::Core& core_;
    std::mutex listener_mu_;
    std::function<void()> reset_listener_;
};

}  // namespace natter::redis
