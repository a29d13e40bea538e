#pragma once
// The fan-out bus: events published on a channel reach every node that
// subscribed to it. Two kinds of channel: `user:{id}` (everything a user's
// devices must hear: messages, revocations, receipts, typing) and
// `presence:{id}` (a user going online or offline, heard by the nodes of
// whoever watches that user). Delivery is best effort and at most once;
// what must not be lost is in the store first (the inbox, the receipt
// watermarks), and the bus only says "look now". Events on one channel from
// one publisher arrive in order.
#include <compare>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/ids.hpp"

namespace natter {

struct Channel {
    enum class Kind : std::uint8_t { user, presence };
    Kind kind = Kind::user;
    UserId id = 0;
    static Channel user(UserId id) { return {Kind::user, id}; }
    static Channel presence(UserId id) { return {Kind::presence, id}; }
    std::string name() const { return (kind == Kind::user ? "user:" : "presence:") + std::to_string(id); }
    auto operator<=>(const Channel&) const = default;
};

// One inbox row a message event announces; `prev` as InboxTarget's
// prev_inbox_id: a device whose socket has not pushed `prev` yet has missed
// an event (or it is still on its way) and reads its inbox instead.
struct InboxRow {
    DeviceId device = 0;
    InboxId id = 0;
    InboxId prev = 0;
};

struct BusEvent {
    enum class Kind {
        message,   // user channel: a message written to some of the user's inbox rows
        revoke,    // user channel: close the device's sockets with 4001
        notice,    // user channel: a frame for every socket of the user (receipt, typing)
        presence,  // presence channel: the user's new presence
        // any channel, from the bus itself: the channel was cut off for a
        // while (a reconnect) and is subscribed again; events may have been
        // missed, so read the store (the inbox, the presence status).
        resync,
    };
    Kind kind = Kind::message;
    // message: the inbox rows of this user the message was written to.
    std::vector<InboxRow> inbox;
    MessageId message_id = 0;
    // message, notice, presence: the frame pushed, shared by every socket.
    std::shared_ptr<const std::string> frame;
    // revoke: the device whose sockets must close with 4001.
    DeviceId device = 0;
    // presence: when the user's presence changed (ms); a watcher drops
    // anything older than what it showed last.
    std::int64_t changed_at = 0;
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
    // is active when subscribe returns, or, on a bus that has it confirmed
    // later (Redis, unless told to wait), the handler gets a `resync` once
    // it is: what was published in between is in the store.
    virtual std::unique_ptr<Subscription> subscribe(Channel channel, Handler handler) = 0;
    virtual void publish(Channel channel, std::shared_ptr<const BusEvent> event) = 0;
};

}  // namespace natter
