#include "sessions/session_registry.hpp"

#include <vector>

#include "sessions/device_session.hpp"

namespace natter {

SessionRegistry::~SessionRegistry() {
    std::vector<std::unique_ptr<Subscription>> drop;
    {
        std::lock_guard lock(mu_);
        for (auto& [user, entry] : users_)
            if (entry.subscription) drop.push_back(std::move(entry.subscription));
        for (auto& [user, entry] : watched_)
            if (entry.subscription) drop.push_back(std::move(entry.subscription));
    }
    // Each one waits for its handler if it is running; after the last,
    // no handler runs or will.
    drop.clear();
}

void SessionRegistry::attach(const std::shared_ptr<DeviceSession>& session) {
    const auto who = session->principal();
    std::shared_ptr<DeviceSession> replaced;
    {
        std::lock_guard lock(mu_);
        auto& entry = users_[who.user];
        if (!entry.subscription) {
            entry.subscription = bus_.subscribe(Channel::user(who.user), [this, user = who.user](std::shared_ptr<const BusEvent> ev) {
                dispatch(user, ev);
            });
        }
        auto& slot = entry.devices[who.device];
        replaced = slot.lock();
        if (!replaced) ++count_;
        slot = session;
    }
    if (replaced) replaced->close(close_code::replaced, "replaced by a newer connection of this device");
}

void SessionRegistry::detach(const DeviceSession* session) {
    const auto who = session->principal();
    std::unique_ptr<Subscription> drop;  // unsubscribed outside the lock
    std::vector<std::unique_ptr<Subscription>> drop_watched;
    {
        std::lock_guard lock(mu_);
        rewatch_locked(session, nullptr, {}, drop_watched);
        auto it = users_.find(who.user);
        if (it == users_.end()) return;
        auto d = it->second.devices.find(who.device);
        if (d == it->second.devices.end()) return;
        auto current = d->second.lock();
        if (current && current.get() != session) return;  // a newer session holds the slot
        it->second.devices.erase(d);
        --count_;
        if (it->second.devices.empty()) {
            drop = std::move(it->second.subscription);
            users_.erase(it);
        }
    }
}

std::size_t SessionRegistry::sessions() const {
    std::lock_guard lock(mu_);
    return count_;
}

void SessionRegistry::close_all(int code, const std::string& reason) {
    std::vector<std::shared_ptr<DeviceSession>> all;
    {
        std::lock_guard lock(mu_);
        for (auto& [user, entry] : users_)
            for (auto& [device, weak] : entry.devices)
                if (auto s = weak.lock()) all.push_back(std::move(s));
    }
    for (auto& s : all) s->close(code, reason);
}

void SessionRegistry::dispatch(UserId user, const std::shared_ptr<const BusEvent>& ev) {
    // Copy the targets out of the lock before calling into sessions.
    std::vector<std::pair<std::shared_ptr<DeviceSession>, InboxRow>> targets;
    std::shared_ptr<DeviceSession> revoked;
    {
        std::lock_guard lock(mu_);
        auto it = users_.find(user);
        if (it == users_.end()) return;
        auto& devices = it->second.devices;
        if (ev->kind == BusEvent::Kind::revoke) {
            if (auto d = devices.find(ev->device); d != devices.end()) revoked = d->second.lock();
        } else if (ev->kind == BusEvent::Kind::notice || ev->kind == BusEvent::Kind::resync) {
            for (auto& [device, weak] : devices)
                if (auto s = weak.lock()) targets.emplace_back(std::move(s), InboxRow{});
        } else {
            for (const auto& row : ev->inbox)
                if (auto d = devices.find(row.device); d != devices.end())
                    if (auto s = d->second.lock()) targets.emplace_back(std::move(s), row);
        }
    }
    if (revoked) revoked->close(close_code::revoked, "credentials revoked: log in again");
    for (auto& [s, row] : targets) {
        if (ev->kind == BusEvent::Kind::notice) s->on_notice(ev->frame);
        else if (ev->kind == BusEvent::Kind::resync) s->on_resync();
        else s->on_bus(ev, row);
    }
}

void SessionRegistry::rewatch_locked(const DeviceSession* key, const std::shared_ptr<DeviceSession>& session,
                                     const std::vector<UserId>& users,
                                     std::vector<std::unique_ptr<Subscription>>& drop) {
    auto it = watching_.find(key);
    if (it != watching_.end()) {
        for (UserId u : it->second) {
            auto w = watched_.find(u);
            if (w == watched_.end()) continue;
            w->second.watchers.erase(key);
            if (w->second.watchers.empty()) {
                drop.push_back(std::move(w->second.subscription));
                watched_.erase(w);
            }
        }
        watching_.erase(it);
    }
    if (users.empty() || !session) return;
    for (UserId u : users) {
        auto& w = watched_[u];
        if (!w.subscription)
            w.subscription = bus_.subscribe(Channel::presence(u), [this, u](std::shared_ptr<const BusEvent> ev) {
                dispatch_presence(u, ev);
            });
        w.watchers[key] = session;
    }
    watching_[key] = users;
}

void SessionRegistry::watch(const std::shared_ptr<DeviceSession>& session, const std::vector<UserId>& users) {
    std::vector<std::unique_ptr<Subscription>> drop;
    std::lock_guard lock(mu_);
    rewatch_locked(session.get(), session, users, drop);
}  // `lock` goes before `drop`: unsubscribed outside the lock

void SessionRegistry::dispatch_presence(UserId user, const std::shared_ptr<const BusEvent>& ev) {
    std::vector<std::shared_ptr<DeviceSession>> targets;
    {
        std::lock_guard lock(mu_);
        auto it = watched_.find(user);
        if (it == watched_.end()) return;
        for (auto& [key, weak] : it->second.watchers)
            if (auto s = weak.lock()) targets.push_back(std::move(s));
    }
    for (auto& s : targets) s->on_presence(user, ev);
}

std::vector<std::pair<UserId, std::string>> SessionRegistry::holders() const {
    std::vector<std::pair<UserId, std::string>> out;
    std::lock_guard lock(mu_);
    for (const auto& [user, entry] : users_)
        for (const auto& [device, weak] : entry.devices)
            if (auto s = weak.lock()) out.emplace_back(user, s->holder());
    return out;
}

std::size_t SessionRegistry::watched_users() const {
    std::lock_guard lock(mu_);
    return watched_.size();
}

}  // namespace natter
