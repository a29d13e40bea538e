#include "adapters/localpresence/local_presence.hpp"

#include <algorithm>

namespace natter::localpresence {

PresenceStatus LocalPresence::status_of(UserId user, const Entry& e) {
    return PresenceStatus{user, e.online, e.online ? 0 : e.last_seen, e.changed_at};
}

void LocalPresence::heartbeat(UserId user, const std::string& holder, std::int64_t now, std::int64_t ttl_ms,
                              Change done) {
    std::optional<PresenceStatus> change;
    {
        std::lock_guard lock(mu_);
        auto& e = users_[user];
        e.holders[holder] = Beat{now, now + ttl_ms};
        if (!e.online) {
            e.online = true;
            e.changed_at = std::max(now, e.changed_at + 1);
            change = status_of(user, e);
        }
    }
    done(change);
}

void LocalPresence::refresh(const std::vector<std::pair<UserId, std::string>>& holders, std::int64_t now,
                            std::int64_t ttl_ms) {
    std::lock_guard lock(mu_);
    for (const auto& [user, holder] : holders) {
        auto u = users_.find(user);
        if (u == users_.end()) continue;
        // Only holders still there: a removed socket is not brought back.
        if (auto h = u->second.holders.find(holder); h != u->second.holders.end()) h->second = Beat{now, now + ttl_ms};
    }
}

void LocalPresence::remove(UserId user, const std::string& holder, std::int64_t now, Change done) {
    std::optional<PresenceStatus> change;
    {
        std::lock_guard lock(mu_);
        auto u = users_.find(user);
        if (u != users_.end() && u->second.holders.erase(holder) && u->second.holders.empty() && u->second.online) {
            auto& e = u->second;
            e.online = false;
            e.last_seen = now;
            e.changed_at = std::max(now, e.changed_at + 1);
            change = status_of(user, e);
        }
    }
    done(change);
}

void LocalPresence::expire(std::int64_t now, std::function<void(std::vector<PresenceStatus>)> done) {
    done(expired(now));
}

std::vector<PresenceStatus> LocalPresence::expired(std::int64_t now) {
    std::vector<PresenceStatus> out;
    std::lock_guard lock(mu_);
    for (auto& [user, e] : users_) {
        if (!e.online) continue;
        std::int64_t last = 0;
        for (auto h = e.holders.begin(); h != e.holders.end();) {
            if (h->second.deadline <= now) {
                last = std::max(last, h->second.last);
                h = e.holders.erase(h);
            } else {
                ++h;
            }
        }
        if (e.holders.empty()) {
            e.online = false;
            e.last_seen = last;
            e.changed_at = std::max(now, e.changed_at + 1);
            out.push_back(status_of(user, e));
        }
    }
    return out;
}

void LocalPresence::status(const std::vector<UserId>& users, std::int64_t now,
                           std::function<void(std::vector<PresenceStatus>)> done) {
    std::vector<PresenceStatus> out;
    out.reserve(users.size());
    {
        std::lock_guard lock(mu_);
        for (UserId u : users) {
            auto it = users_.find(u);
            out.push_back(it == users_.end() ? PresenceStatus{u, false, 0, 0} : status_of(u, it->second));
        }
    }
    done(std::move(out));
}

}  // namespace natter::localpresence
