#pragma once
// Accounts, devices and credentials: registration, sign-in, token refresh
// and revocation, WebSocket tickets, profiles. Pure logic over the ports;
// every method may block on the store and on argon2, so callers run it off
// the I/O threads.
#include <optional>
#include <string>
#include <vector>

#include "chat/password_hasher.hpp"
#include "chat/rate_limiter.hpp"
#include "chat/token_signer.hpp"
#include "core/error.hpp"
#include "core/limits.hpp"
#include "ports/bus.hpp"
#include "ports/clock.hpp"
#include "ports/store.hpp"

namespace natter {

// Who made a request: an authenticated device of a user.
struct Principal {
    UserId user = 0;
    DeviceId device = 0;
    std::int64_t generation = 0;  // the device's token generation when authenticated
};

struct SessionGrant {
    UserId user = 0;
    DeviceId device = 0;
    std::string access_token;
    std::int64_t expires_in = 0;  // seconds
    std::string refresh_token;
};

struct Ticket {
    std::string ticket;
    std::int64_t expires_in = 0;
};

class AccountService {
public:
    AccountService(Stores stores, Bus& bus, const PasswordHasher& hasher, const TokenSigner& signer,
                   IdGenerator& ids, const Clock& clock, const Limits& limits);

    Result<UserId> register_user(const std::string& username, const std::string& password,
                                 const std::string& display_name);
    Result<SessionGrant> login(const std::string& username, const std::string& password,
                               std::optional<DeviceId> device, const std::string& device_name);
    Result<SessionGrant> refresh(const std::string& refresh_token);
    // One sign-in or registration attempt from the client address `key`
    // (core/address.hpp client_key; empty: exempt): rate_limited with
    // retry_after_ms once the address has used its attempts.
    Result<Ok> attempt_from(const std::string& key);
    Result<Principal> authenticate(const std::string& access_token);
    Result<Principal> authenticate_ticket(const std::string& ticket);
    Result<Ticket> issue_ticket(const Principal& who);
    void seen(const Principal& who);  // the device connected: its last_seen moves
    Result<Ok> logout(const Principal& who);
    std::vector<DeviceRecord> devices(const Principal& who);
    Result<Ok> remove_device(const Principal& who, DeviceId device);
    Result<UserRecord> user(UserId id);
    Result<UserRecord> user_by_name(const std::string& username);
    // Display name and description; the avatar is set by MediaService::set_avatar.
    Result<UserRecord> update_profile(const Principal& who, const ProfilePatch& patch);
    Result<Ok> check_profile(const ProfilePatch& patch) const;

    // Account deletion's parts (AccountDeletion puts them in order).
    // The user's password again: unauthorized when wrong; rate limited per
    // username with sign-in, so it is no way round that limit.
    Result<Ok> confirm_password(const Principal& who, const std::string& password);
    // Deletes the account in the store and closes every socket of its
    // devices (4001). A deletion cut short after its first step (the user
    // can no longer sign in) still counts as done: the sweeper finishes it.
    Result<Ok> erase(UserId user);
    bool deleted(UserId user);
    // Finishes deletions cut short; how many it finished.
    std::size_t finish_deletions();

private:
    Result<SessionGrant> grant(const DeviceRecord& device);
    std::string new_refresh_token(UserId user);
    void announce_revocation(UserId user, DeviceId device);

    Stores stores_;
    Bus& bus_;
    const PasswordHasher& hasher_;
    const TokenSigner& signer_;
    IdGenerator& ids_;
    const Clock& clock_;
    const Limits& limits_;
    KeyedRateLimiter login_limiter_;  // password guesses per username
    KeyedRateLimiter address_limiter_;  // sign-ins and registrations per client address
    std::string dummy_hash_;  // verified against when the user is unknown, so timing does not tell
};

// Validates a display name, description or device name: UTF-8, at most `max` code points.
std::optional<Error> check_short_text(const std::string& field, const std::string& value, std::size_t max);

}  // namespace natter
