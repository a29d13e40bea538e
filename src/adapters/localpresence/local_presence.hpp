#pragma once
// The embedded presence store: holders and their deadlines in memory. One
// process is the whole deployment, so nothing outlives it; last_seen of users
// not seen since the start comes from the device store instead.
#include <map>
#include <mutex>
#include <unordered_map>

#include "ports/presence.hpp"

namespace natter::localpresence {

class LocalPresence final : public PresenceStore {
public:
    void heartbeat(UserId user, const std::string& holder, std::int64_t now, std::int64_t ttl_ms, Change done) override;
    void refresh(const std::vector<std::pair<UserId, std::string>>& holders, std::int64_t now,
                 std::int64_t ttl_ms) override;
    void remove(UserId user, const std::string& holder, std::int64_t now, Change done) override;
    void expire(std::int64_t now, std::function<void(std::vector<PresenceStatus>)> done) override;
    void status(const std::vector<UserId>& users, std::int64_t now,
                std::function<void(std::vector<PresenceStatus>)> done) override;

private:
    struct Beat {
        std::int64_t last = 0;       // last heartbeat
        std::int64_t deadline = 0;   // alive until
    };
    struct Entry {
        std::map<std::string, Beat> holders;
        bool online = false;
        std::int64_t last_seen = 0;
        std::int64_t changed_at = 0;
    };
    static PresenceStatus status_of(UserId user, const Entry& e);
    std::vector<PresenceStatus> expired(std::int64_t now);  // under the lock; `done` outside it

    std::mutex mu_;
    std::unordered_map<UserId, Entry> users_;
};

}  // namespace natter::localpresence
