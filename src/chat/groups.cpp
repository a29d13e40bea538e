#include "chat/groups.hpp"

#include <algorithm>
#include <future>

#include "core/crypto.hpp"
#include "core/conversation.hpp"
#include "core/text.hpp"

namespace natter {


Result<SendOutcome> GroupService::commit(GroupChange change, bool rate_limited) {
    auto now = clock_.now_ms();
    if (auto wait = rate_limited ? change_limiter_.take(change.actor, now) : 0) {
        Error e = err(Code::rate_limited, "too many group changes: slow down");
        e.retry_after_ms = wait;
        return e;
    }
    change.new_message_id = ids_.next(now);
    change.client_msg_id = random_uuid();
    change.ts = now;
    change.max_members = limits_.max_group_members;
    std::promise<Result<SendOutcome>> promise;
    auto result = promise.get_future();
    stores_.groups->change_group(std::move(change), [this, &promise](Result<SendOutcome> out) {
        // On the writer thread, in commit order with the sends.
        if (out) messaging_.publish(*out);
        promise.set_value(std::move(out));
    });
    return result.get();
}

Result<CreatedGroup> GroupService::create(const Principal& who, const std::string& name,
                                          const std::vector<UserId>& members) {
    if (auto e = check_short_text("name", name, limits_.max_group_name_chars)) return *e;
    if (name.empty()) return err(Code::invalid, "name must not be empty");
    std::vector<UserId> others;
    for (UserId u : members)
        if (u != who.user && std::find(others.begin(), others.end(), u) == others.end()) others.push_back(u);
    if (others.size() + 1 > limits_.max_group_members)
        return err(Code::conflict, "a group has at most " + std::to_string(limits_.max_group_members) + " members");
    GroupChange change;
    change.kind = GroupChange::Kind::create;
    auto group_id = ids_.next(clock_.now_ms());
    change.group_id = group_id;
    change.actor = who.user;
    change.actor_device = who.device;
    change.name = name;
    change.members = std::move(others);
    auto out = commit(std::move(change));
    if (!out) return out.error();
    return CreatedGroup{group_id, out->message.conversation_id};
}

Result<GroupRecord> GroupService::get(const Principal& who, std::uint64_t group_id) {
    auto g = stores_.groups->group(group_id);
    if (!g) return err(Code::not_found, "no such group");
    bool member = std::any_of(g->members.begin(), g->members.end(), [&](const GroupMember& m) { return m.user_id == who.user; });
    if (!member) return err(Code::forbidden, "not a member of this group");
    return *g;
}

Result<Ok> GroupService::member_change(GroupChange::Kind kind, const Principal& who, std::uint64_t group_id,
                                       UserId user) {
    GroupChange change;
    change.kind = kind;
    change.group_id = group_id;
    change.actor = who.user;
    change.actor_device = who.device;
    change.user = user;
    auto out = commit(std::move(change));
    if (!out) return out.error();
    return Ok{};
}

Result<Ok> GroupService::leave_every_group(const Principal& who) {
    constexpr std::size_t kEvery = 1'000'000;  // every conversation of the user: direct ones are listed too
    bool failed = false;
    for (const auto& c : stores_.conversations->conversations(who.user, kEvery)) {
        auto ref = parse_conversation(c.conversation_id);
        if (!ref || !ref->group) continue;
        GroupChange change;
        change.kind = GroupChange::Kind::remove;
        change.group_id = ref->a;
        change.actor = who.user;
        change.actor_device = who.device;
        change.user = who.user;
        auto out = commit(std::move(change), false);
        // not_found: left meanwhile (an earlier try whose answer was lost).
        if (!out && out.error().code != Code::not_found) failed = true;
    }
    if (failed) return err(Code::unavailable, "could not leave every group; retry");
    return Ok{};
}

}  // namespace natter
