#pragma once
// Internal to the SQLite adapter: the pieces of a write transaction that
// sends, group changes and acks share. Each runs on the writer thread,
// inside the job's savepoint.
#include <optional>
#include <vector>

#include "adapters/sqlite/sqlite_db.hpp"
#include "ports/store.hpp"

namespace natter::sqlite {

// A conversation's newest message.
struct Last {
    std::int64_t seq = 0;
    MessageId message_id = 0;
};
std::optional<Last> last_of(Db& db, const std::string& conversation_id);

bool member_of(Db& db, const std::string& conversation_id, UserId user);

// Gives `m` the seq after `last`, stores it and makes it the conversation's newest.
void append_message(Db& db, StoredMessage& m, const Last& last, std::uint64_t media_id = 0);

// One inbox row per device of every member of m's conversation but
// `skip_device` (the sending device; 0 for none): the sender's devices last,
// as the send path promises.
void fan_out(Db& db, const StoredMessage& m, DeviceId skip_device, std::vector<InboxTarget>& out);

AckOutcome ack_in(Db& db, UserId user, DeviceId device, const std::vector<MessageId>& ids, std::int64_t now);
Result<SendOutcome> group_change_in(Db& db, const GroupChange& change);

}  // namespace natter::sqlite
