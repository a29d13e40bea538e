#include "chat/history.hpp"

#include "core/conversation.hpp"

namespace natter {

Result<std::vector<ConversationSummary>> HistoryService::conversations(const Principal& who,
                                                                       std::optional<std::size_t> limit) {
    std::size_t n = limit.value_or(limits_.max_conversations);
    if (n < 1 || n > limits_.max_conversations)
        return err(Code::invalid, "limit must be 1.." + std::to_string(limits_.max_conversations));
    return stores_.conversations->conversations(who.user, n);
}

Result<std::vector<StoredMessage>> HistoryService::messages(const Principal& who, const std::string& conversation_id,
                                                            std::optional<std::int64_t> before_seq,
                                                            std::optional<std::size_t> limit) {
    auto conv = parse_conversation(conversation_id);
    if (!conv) return err(Code::not_found, "no such conversation");
    if (conv->group) return err(Code::not_found, "groups are not supported by this server yet");
    if (!conv->has_member_hint(who.user)) return err(Code::forbidden, "not a participant of this conversation");
    std::size_t n = limit.value_or(limits_.default_page);
    if (n < 1 || n > limits_.max_page) return err(Code::invalid, "limit must be 1.." + std::to_string(limits_.max_page));
    if (before_seq && *before_seq < 1) return err(Code::invalid, "before_seq must be at least 1");
    // A 1:1 participant sees the whole conversation (a group member, from its joined_seq).
    return stores_.conversations->history(conv->str(), 1, before_seq.value_or(0), n);
}

}  // namespace natter
