#pragma once
// The presence port: which users have a live socket somewhere. Each socket
// is a `holder` (a key unique across the cluster) that stays alive for a TTL
// unless heartbeats refresh it, so a node that vanishes leaves no user online
// for longer than the TTL. The embedded adapter keeps this in memory; the
// cluster one in Redis keys with a TTL.
//
// Thread-safety: every method may be called from any thread at once; none
// blocks on the network. Methods taking a callback call it exactly once,
// possibly before returning, possibly on another thread (the cluster
// adapter's), so a callback must not block either.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/ids.hpp"

namespace natter {

struct PresenceStatus {
    UserId user = 0;
    bool online = false;
    std::int64_t last_seen = 0;   // offline: the last moment a socket of the user was alive (0: unknown)
    std::int64_t changed_at = 0;  // when `online` last flipped, ms; strictly increasing per user (0: not since this store started)
};

class PresenceStore {
public:
    virtual ~PresenceStore() = default;
    using Change = std::function<void(std::optional<PresenceStatus>)>;
    // Marks the holder alive until now + ttl_ms. `done` gets the user's new
    // status when this made the user online, nullopt otherwise.
    virtual void heartbeat(UserId user, const std::string& holder, std::int64_t now, std::int64_t ttl_ms,
                           Change done) = 0;
    // Refreshes many holders at once (a node's periodic heartbeat).
    virtual void refresh(const std::vector<std::pair<UserId, std::string>>& holders, std::int64_t now,
                         std::int64_t ttl_ms) = 0;
    // Drops the holder. `done` gets the user's new status when this made the
    // user offline, nullopt otherwise.
    virtual void remove(UserId user, const std::string& holder, std::int64_t now, Change done) = 0;
    // Drops the holders whose TTL ran out by `now`; `done` gets the users
    // this made offline, each with the time of its last heartbeat as
    // last_seen. When several stores (nodes) expire at once, each user going
    // offline is reported by exactly one of them.
    virtual void expire(std::int64_t now, std::function<void(std::vector<PresenceStatus>)> done) = 0;
    // `listener` runs (on any thread) when the store may have lost holders
    // recorded earlier: a Redis instance came back, perhaps empty, or was
    // away while sockets opened. The service then heartbeats every socket it
    // has again (announcing who that makes online). The embedded store loses
    // nothing and never calls it.
    virtual void on_reset(std::function<void()> listener) {}
    // The users' statuses, in the order asked.
    virtual void status(const std::vector<UserId>& users, std::int64_t now,
                        std::function<void(std::vector<PresenceStatus>)> done) = 0;
};

}  // namespace natter
