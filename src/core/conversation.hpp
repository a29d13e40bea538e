#pragma once
// Conversation ids: `d:<low>:<high>` for a 1:1 chat (user ids compared as
// unsigned integers; a chat with oneself is `d:<id>:<id>`) and
// `g:<group_id>` for a group.
#include <optional>
#include <string>
#include <string_view>

#include "core/ids.hpp"

namespace natter {

struct ConversationRef {
    bool group = false;
    UserId a = 0;       // direct: the lower user id; group: the group id
    UserId b = 0;       // direct: the higher user id
    std::string str() const;
    bool has_member_hint(UserId u) const { return !group && (u == a || u == b); }
};

ConversationRef direct_conversation(UserId x, UserId y);
ConversationRef group_conversation(std::uint64_t group_id);
std::optional<ConversationRef> parse_conversation(std::string_view text);

}  // namespace natter
