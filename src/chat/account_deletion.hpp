#pragma once
// Account deletion (DELETE /v1/accounts/me): the password again, then the
// user leaves every group (each a message the other members see), then the
// store deletes the account (devices, tokens, inboxes, media, profile,
// username) and every socket of it is closed, then the media's blobs go.
// Messages the user sent stay in others' history; the user's id then names
// a tombstone (docs/PROTOCOL.md §2, docs/RETENTION.md). Blocking: the HTTP
// API runs it off the I/O threads.
#include <string>

#include "chat/accounts.hpp"
#include "chat/groups.hpp"
#include "chat/media.hpp"

namespace natter {

class AccountDeletion {
public:
    // Without groups or media support, those steps are skipped.
    AccountDeletion(AccountService& accounts, GroupService* groups, MediaService* media)
        : accounts_(accounts), groups_(groups), media_(media) {}

    // unauthorized for a wrong password (counted by the sign-in rate limit
    // of the username), rate_limited past it; unavailable when a step could
    // not be done before the user lost their credentials (nothing of the
    // account went, or only group memberships: the call may be retried).
    Result<Ok> delete_account(const Principal& who, const std::string& password);

private:
    AccountService& accounts_;
    GroupService* groups_;
    MediaService* media_;
};

}  // namespace natter
