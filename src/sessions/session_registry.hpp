#pragma once
// Who is connected here: user -> device -> session. The first session of a
// user subscribes to the user's bus channel, the last one unsubscribes; bus
// events are routed to the sessions of the devices they name.
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "ports/bus.hpp"

namespace natter {

class DeviceSession;

class SessionRegistry {
public:
    explicit SessionRegistry(Bus& bus) : bus_(bus) {}
    // Unsubscribes everything before the maps go: a bus handler running
    // now on another thread (another user's event) must not find them freed.
    ~SessionRegistry();
    // Adds the session, subscribed when this returns. An older session of the
    // same device is closed with 4002.
    void attach(const std::shared_ptr<DeviceSession>& session);
    // Also drops what the session watched.
    void detach(const DeviceSession* session);
    std::size_t sessions() const;
    // Replaces the users whose presence the session watches; their presence
    // channels are subscribed when this returns.
    void watch(const std::shared_ptr<DeviceSession>& session, const std::vector<UserId>& users);
    // Every open session's (user, presence holder), for the node's heartbeat.
    std::vector<std::pair<UserId, std::string>> holders() const;
    std::size_t watched_users() const;
    // Closes every local session with `code` (shutdown).
    void close_all(int code, const std::string& reason);

private:
    struct UserEntry {
        std::unique_ptr<Subscription> subscription;
        std::map<DeviceId, std::weak_ptr<DeviceSession>> devices;
    };
    struct WatchedEntry {
        std::unique_ptr<Subscription> subscription;
        std::map<const DeviceSession*, std::weak_ptr<DeviceSession>> watchers;
    };
    void dispatch(UserId user, const std::shared_ptr<const BusEvent>& ev);
    void dispatch_presence(UserId user, const std::shared_ptr<const BusEvent>& ev);
    // Under mu_: moves the session's watch list to `users`; subscriptions to
    // drop are handed back to be destroyed outside the lock.
    void rewatch_locked(const DeviceSession* key, const std::shared_ptr<DeviceSession>& session,
                        const std::vector<UserId>& users, std::vector<std::unique_ptr<Subscription>>& drop);

    Bus& bus_;
    mutable std::mutex mu_;
    std::unordered_map<UserId, UserEntry> users_;
    std::unordered_map<UserId, WatchedEntry> watched_;
    std::unordered_map<const DeviceSession*, std::vector<UserId>> watching_;
    std::size_t count_ = 0;
};

}  // namespace natter
