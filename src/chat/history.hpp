#pragma once
// Conversation lists and history pages, participants only. May block on the
// store: callers run it off the I/O threads.
#include <optional>
#include <string>
#include <vector>

#include "chat/accounts.hpp"
#include "core/conversation.hpp"
#include "core/error.hpp"
#include "ports/store.hpp"

namespace natter {

struct HistoryLimits {
    std::size_t default_page = 50;
    std::size_t max_page = 200;
    std::size_t max_conversations = 500;
};

class HistoryService {
public:
    HistoryService(Stores stores, HistoryLimits limits = {}) : stores_(stores), limits_(limits) {}
    Result<std::vector<ConversationSummary>> conversations(const Principal& who, std::optional<std::size_t> limit);
    // Newest first; `before_seq` exclusive. forbidden for a non-participant.
    Result<std::vector<StoredMessage>> messages(const Principal& who, const std::string& conversation_id,
                                                std::optional<std::int64_t> before_seq, std::optional<std::size_t> limit);

    // Every member's delivered and read watermarks; participants only.
    Result<std::vector<MemberReceipt>> receipts(const Principal& who, const std::string& conversation_id);

private:
    // The first seq the user may see: forbidden for a non-participant.
    Result<std::int64_t> first_visible(const Principal& who, const ConversationRef& conv);
    Stores stores_;
    HistoryLimits limits_;
};

}  // namespace natter
