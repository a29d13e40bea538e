#include "chat/presence.hpp"

#include <algorithm>

#include "chat/frames.hpp"
#include "core/conversation.hpp"

namespace natter {

PresenceService::PresenceService(PresenceStore& presence, Stores stores, Bus& bus, const Clock& clock,
                                 const Limits& limits, Blocking blocking, std::string node_tag)
    : presence_(presence),
      stores_(stores),
      bus_(bus),
      clock_(clock),
      limits_(limits),
      blocking_(std::move(blocking)),
      node_tag_(std::move(node_tag)) {}

std::string PresenceService::new_holder() {
    return node_tag_ + ":" + std::to_string(next_holder_.fetch_add(1, std::memory_order_relaxed));
}

void PresenceService::announce(const PresenceStatus& s) {
    auto ev = std::make_shared<BusEvent>();
    ev->kind = BusEvent::Kind::presence;
    ev->changed_at = s.changed_at;
    ev->frame = std::make_shared<const std::string>(presence_frame(s.user, s.online, s.last_seen));
    bus_.publish(Channel::presence(s.user), std::move(ev));
    announced_.fetch_add(1, std::memory_order_relaxed);
}

void PresenceService::connected(const Principal& who, const std::string& holder) {
    presence_.heartbeat(who.user, holder, clock_.now_ms(), limits_.presence_ttl_ms,
                        [this](std::optional<PresenceStatus> change) {
                            if (change) announce(*change);
                        });
}

void PresenceService::disconnected(const Principal& who, const std::string& holder) {
    presence_.remove(who.user, holder, clock_.now_ms(), [this](std::optional<PresenceStatus> change) {
        if (change) announce(*change);
    });
}

void PresenceService::tick(const std::vector<std::pair<UserId, std::string>>& holders, bool again) {
    auto now = clock_.now_ms();
    if (again) {
        for (const auto& [user, holder] : holders)
            presence_.heartbeat(user, holder, now, limits_.presence_ttl_ms, [this](std::optional<PresenceStatus> change) {
                if (change) announce(*change);
            });
    } else {
        presence_.refresh(holders, now, limits_.presence_ttl_ms);
    }
    presence_.expire(now, [this](std::vector<PresenceStatus> offline) {
        for (const auto& s : offline) announce(s);
    });
}

void PresenceService::check_watch(const Principal& who, std::vector<UserId> users, std::function<void(Result<Ok>)> done) {
    blocking_([this, who, users = std::move(users), done = std::move(done)]() mutable {
        try {
            std::vector<UserId> others;
            for (UserId u : users)
                if (u != who.user) others.push_back(u);
            auto allowed = stores_.groups->contacts_among(who.user, others);
            std::sort(allowed.begin(), allowed.end());
            for (UserId u : others)
                if (!std::binary_search(allowed.begin(), allowed.end(), u))
                    return done(err(Code::forbidden, "no conversation shared with user " + id_string(u)));
            done(Ok{});
        } catch (const std::exception& e) {
            done(err(Code::unavailable, std::string("presence check failed: ") + e.what()));
        }
    });
}

void PresenceService::status(std::vector<UserId> users, std::function<void(std::vector<PresenceStatus>)> done) {
    presence_.status(users, clock_.now_ms(), [this, done = std::move(done)](std::vector<PresenceStatus> list) mutable {
        // The devices store blocks, and the presence store may answer on its
        // own thread (the cluster one does): to the pool.
        blocking_([this, list = std::move(list), done = std::move(done)]() mutable {
            for (auto& s : list) {
                if (s.online || s.last_seen) continue;
                // Not seen since this store started: the devices remember.
                try {
                    for (const auto& d : stores_.devices->devices(s.user)) s.last_seen = std::max(s.last_seen, d.last_seen);
                } catch (const std::exception&) {
                }
            }
            done(std::move(list));
        });
    });
}

void PresenceService::typing(const Principal& who, const std::string& conversation_id, bool typing,
                             std::function<void(Result<Ok>)> done) {
    auto conv = parse_conversation(conversation_id);
    if (!conv) return done(err(Code::invalid, "conversation_id is not a conversation id"));
    if (!conv->group && !conv->has_member_hint(who.user))
        return done(err(Code::forbidden, "not a participant of this conversation"));
    blocking_([this, who, conv = *conv, typing, done = std::move(done)] {
        try {
            // Members only: a 1:1 chat exists from its first message, so
            // nobody is shown typing by a stranger.
            auto members = stores_.groups->members(conv.str());
            if (std::find(members.begin(), members.end(), who.user) == members.end())
                return done(err(Code::forbidden, conv.group ? "not a member of this group"
                                                            : "no conversation with this user yet: send a message first"));
            auto ev = std::make_shared<BusEvent>();
            ev->kind = BusEvent::Kind::notice;
            ev->frame = std::make_shared<const std::string>(typing_frame(conv.str(), who.user, typing));
            std::shared_ptr<const BusEvent> shared = std::move(ev);
            for (UserId u : members)
                if (u != who.user) bus_.publish(Channel::user(u), shared);
            typing_relayed_.fetch_add(members.size() - 1, std::memory_order_relaxed);
            done(Ok{});
        } catch (const std::exception& e) {
            done(err(Code::unavailable, std::string("typing failed: ") + e.what()));
        }
    });
}

}  // namespace natter
