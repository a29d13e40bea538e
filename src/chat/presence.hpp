#pragma once
// Presence and typing: who is online (or when last seen), and who is typing
// where. Both are ephemeral: presence lives in the presence store with a
// TTL, typing only on the bus. A user may watch only users it shares a
// conversation with; typing reaches only the conversation's other members.
#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "chat/accounts.hpp"
#include "core/error.hpp"
#include "core/limits.hpp"
#include "ports/bus.hpp"
#include "ports/clock.hpp"
#include "ports/presence.hpp"
#include "ports/store.hpp"

namespace natter {

class PresenceService {
public:
    using Blocking = std::function<void(std::function<void()>)>;
    // `node_tag` makes holder keys unique across nodes.
    PresenceService(PresenceStore& presence, Stores stores, Bus& bus, const Clock& clock, const Limits& limits,
                    Blocking blocking, std::string node_tag);

    // A key for one socket, unique across the cluster.
    std::string new_holder();
    // A socket of the user opened / closed: announced when the user's status flips.
    void connected(const Principal& who, const std::string& holder);
    void disconnected(const Principal& who, const std::string& holder);
    // The node's periodic heartbeat for its open sockets, then the sweep of
    // holders whose TTL ran out (another node's, or a stuck one).
    // With `again`, every holder is heartbeaten instead (the store may have
    // lost them: PresenceStore::on_reset), announcing who comes back online.
    void tick(const std::vector<std::pair<UserId, std::string>>& holders, bool again = false);

    // Checks that `who` shares a conversation with each of `users` (itself
    // allowed); forbidden naming the first that does not. On a pool thread.
    void check_watch(const Principal& who, std::vector<UserId> users, std::function<void(Result<Ok>)> done);
    // The users' current statuses; last_seen falls back to the devices' when
    // the presence store has none. On a pool thread.
    void status(std::vector<UserId> users, std::function<void(std::vector<PresenceStatus>)> done);

    // Relays "typing" to the conversation's other members; forbidden for a
    // non-member. On a pool thread.
    void typing(const Principal& who, const std::string& conversation_id, bool typing,
                std::function<void(Result<Ok>)> done);

    std::uint64_t announced() const { return announced_.load(std::memory_order_relaxed); }
    std::uint64_t typing_relayed() const { return typing_relayed_.load(std::memory_order_relaxed); }

private:
    void announce(const PresenceStatus& s);

    PresenceStore& presence_;
    Stores stores_;
    Bus& bus_;
    const Clock& clock_;
    const Limits& limits_;
    Blocking blocking_;
    std::string node_tag_;
    std::atomic<std::uint64_t> next_holder_{0};
    std::atomic<std::uint64_t> announced_{0};
    std::atomic<std::uint64_t> typing_relayed_{0};
};

}  // namespace natter
