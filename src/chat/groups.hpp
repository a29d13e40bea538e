#pragma once
// Groups: create, look at, add and remove members. Every change is a
// `system` message of the group's conversation, committed in the group's
// order with its sends and fanned out like one. Blocking: the calls wait for
// the store's commit, so the HTTP API runs them off the I/O threads.
#include <cstdint>
#include <string>
#include <vector>

#include "chat/accounts.hpp"
#include "chat/messaging.hpp"
#include "chat/rate_limiter.hpp"
#include "core/error.hpp"
#include "core/limits.hpp"
#include "ports/clock.hpp"
#include "ports/store.hpp"

namespace natter {

struct CreatedGroup {
    std::uint64_t group_id = 0;
    std::string conversation_id;
};

class GroupService {
public:
    GroupService(Stores stores, MessagingService& messaging, IdGenerator& ids, const Clock& clock, const Limits& limits)
        : stores_(stores),
          messaging_(messaging),
          ids_(ids),
          clock_(clock),
          limits_(limits),
          change_limiter_(limits.group_changes_per_min / 60.0, limits.group_changes_per_min) {}

    // The creator is the group's admin; `members` are the others (the
    // creator may be listed too; duplicates count once).
    Result<CreatedGroup> create(const Principal& who, const std::string& name, const std::vector<UserId>& members);
    // Members only.
    Result<GroupRecord> get(const Principal& who, std::uint64_t group_id);
    Result<Ok> add_member(const Principal& who, std::uint64_t group_id, UserId user) {
        return member_change(GroupChange::Kind::add, who, group_id, user);
    }
    // An admin removing a member, or a member leaving (user == who.user).
    Result<Ok> remove_member(const Principal& who, std::uint64_t group_id, UserId user) {
        return member_change(GroupChange::Kind::remove, who, group_id, user);
    }
    std::size_t max_members() const { return limits_.max_group_members; }
    // The user leaves every group, as a member leaving (the others see it;
    // the last admin hands the group on), for account deletion: not rate
    // limited (the deletion is, by its password). unavailable when a group
    // could not be left.
    Result<Ok> leave_every_group(const Principal& who);

private:
    Result<Ok> member_change(GroupChange::Kind kind, const Principal& who, std::uint64_t group_id, UserId user);
    Result<SendOutcome> commit(GroupChange change, bool rate_limited = true);

    Stores stores_;
    MessagingService& messaging_;
    IdGenerator& ids_;
    const Clock& clock_;
    const Limits& limits_;
    KeyedRateLimiter change_limiter_;  // per acting user: every change is a message to every member
};

}  // namespace natter
