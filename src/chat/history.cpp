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
    auto from = first_visible(who, *conv);
    if (!from) return from.error();
    std::size_t n = limit.value_or(limits_.default_page);
    if (n < 1 || n > limits_.max_page) return err(Code::invalid, "limit must be 1.." + std::to_string(limits_.max_page));
    if (before_seq && *before_seq < 1) return err(Code::invalid, "before_seq must be at least 1");
    return stores_.conversations->history(conv->str(), *from, before_seq.value_or(0), n);
}

Result<std::int64_t> HistoryService::first_visible(const Principal& who, const ConversationRef& conv) {
    // A 1:1 participant sees the whole conversation; a group member, from its joined_seq.
    if (!conv.group) {
        if (!conv.has_member_hint(who.user)) return err(Code::forbidden, "not a participant of this conversation");
        return std::int64_t(1);
    }
    if (auto m = stores_.groups->membership(conv.str(), who.user)) return m->joined_seq;
    if (!stores_.groups->group(conv.a)) return err(Code::not_found, "no such group");
    return err(Code::forbidden, "not a member of this group");
}

Result<std::vector<MemberReceipt>> HistoryService::receipts(const Principal& who, const std::string& conversation_id) {
    auto conv = parse_conversation(conversation_id);
    if (!conv) return err(Code::not_found, "no such conversation");
    if (auto from = first_visible(who, *conv); !from) return from.error();
    return stores_.receipts->receipts(conv->str());
}

}  // namespace natter
