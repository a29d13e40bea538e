#pragma once
// The fan-out bus: events published on a user's channel reach every node
// that holds a socket of that user. Delivery is best effort and at most once;
// what must not be lost is in the store first (the inbox), and the bus only
// says "look now". Events on one channel from one publisher arrive in order.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/ids.hpp"

namespace natter {

struct BusEvent {
    enum class Kind { message, revoke };
    Kind kind = Kind::message;
    // message: the inbox rows of this user the message was written to, and the
    // pushed frame, shared by every device.
    std::vector<std::pair<DeviceId, InboxId>> inbox;
    MessageId message_id = 0;
    std::shared_ptr<const std::string> frame;
    // revoke: the device whose sockets must close with 4001.
    DeviceId device = 0;
};

class Subscription {
public:
    virtual ~Subscription() = default;  // unsubscribes
};

class Bus {
public:
    virtual ~Bus() = default;
    using Handler = std::function<void(std::shared_ptr<const BusEvent>)>;
    // The handler may run on any thread and must not block. The subscription
    // is active when subscribe returns.
    virtual std::unique_ptr<Subscription> subscribe(UserId user, Handler handler) = 0;
    virtual void publish(UserId user, std::shared_ptr<const BusEvent> event) = 0;
};

}  // namespace natter
