#include "core/conversation.hpp"

namespace natter {

std::string ConversationRef::str() const {
    if (group) return "g:" + id_string(a);
    return "d:" + id_string(a) + ":" + id_string(b);
}

ConversationRef direct_conversation(UserId x, UserId y) {
    return ConversationRef{false, x < y ? x : y, x < y ? y : x};
}

ConversationRef group_conversation(std::uint64_t group_id) { return ConversationRef{true, group_id, 0}; }

std::optional<ConversationRef> parse_conversation(std::string_view text) {
    if (text.size() < 3 || text[1] != ':') return std::nullopt;
    auto rest = text.substr(2);
    if (text[0] == 'g') {
        auto g = parse_id(rest);
        if (!g) return std::nullopt;
        return group_conversation(*g);
    }
    if (text[0] != 'd') return std::nullopt;
    auto colon = rest.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    auto lo = parse_id(rest.substr(0, colon));
    auto hi = parse_id(rest.substr(colon + 1));
    if (!lo || !hi || *lo > *hi) return std::nullopt;
    return ConversationRef{false, *lo, *hi};
}

}  // namespace natter
