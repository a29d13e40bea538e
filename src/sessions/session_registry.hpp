#pragma once
// Who is connected here: user -> device -> session. The first session of a
// user subscribes to the user's bus channel, the last one unsubscribes; bus
// events are routed to the sessions of the devices they name.
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "ports/bus.hpp"

namespace natter {

class DeviceSession;

class SessionRegistry {
public:
    explicit SessionRegistry(Bus& bus) : bus_(bus) {}
    // Adds the session, subscribed when this returns. An older session of the
    // same device is closed with 4002.
    void attach(const std::shared_ptr<DeviceSession>& session);
    void detach(const DeviceSession* session);
    std::size_t sessions() const;
    // Closes every local session with `code` (shutdown).
    void close_all(int code, const std::string& reason);

private:
    struct UserEntry {
        std::unique_ptr<Subscription> subscription;
        std::map<DeviceId, std::weak_ptr<DeviceSession>> devices;
    };
    void dispatch(UserId user, const std::shared_ptr<const BusEvent>& ev);

    Bus& bus_;
    mutable std::mutex mu_;
    std::unordered_map<UserId, UserEntry> users_;
    std::size_t count_ = 0;
};

}  // namespace natter
