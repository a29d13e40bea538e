#include "chat/accounts.hpp"

#include "core/crypto.hpp"
#include "core/text.hpp"

namespace natter {

namespace {
constexpr std::size_t kMinPassword = 8;
constexpr std::size_t kMaxPassword = 1024;
constexpr std::size_t kMaxNameChars = 50;

// "<user_id>.<secret>": the user id routes the lookup to the user's shard.
std::optional<UserId> owner_of(const std::string& token) {
    auto dot = token.find('.');
    if (dot == std::string::npos || token.size() > 256) return std::nullopt;
    return parse_id(std::string_view(token).substr(0, dot));
}
}  // namespace

std::optional<Error> check_short_text(const std::string& field, const std::string& value, std::size_t max) {
    auto n = utf8_length(value);
    if (!n) return err(Code::invalid, field + " is not valid UTF-8");
    if (*n > max) return err(Code::too_large, field + " is longer than " + std::to_string(max) + " characters");
    return std::nullopt;
}

AccountService::AccountService(Stores stores, Bus& bus, const PasswordHasher& hasher, const TokenSigner& signer,
                               IdGenerator& ids, const Clock& clock, const Limits& limits)
    : stores_(stores),
      bus_(bus),
      hasher_(hasher),
      signer_(signer),
      ids_(ids),
      clock_(clock),
      limits_(limits),
      login_limiter_(limits.login_rate_per_s, limits.login_burst),
      address_limiter_(limits.login_rate_per_address_per_s, limits.login_burst_per_address) {
    dummy_hash_ = hasher_.hash(base64url(random_bytes(16)));
}

Result<UserId> AccountService::register_user(const std::string& username, const std::string& password,
                                             const std::string& display_name) {
    if (!is_username(username)) return err(Code::invalid, "username must be 3-32 characters of a-z, 0-9, _ and .");
    if (password.size() < kMinPassword) return err(Code::invalid, "password must be at least 8 bytes");
    if (password.size() > kMaxPassword) return err(Code::too_large, "password must be at most 1024 bytes");
    if (auto e = check_short_text("display_name", display_name, kMaxNameChars)) return *e;
    if (stores_.users->user_by_name(username)) return err(Code::conflict, "username is taken");
    UserRecord u;
    u.user_id = ids_.next(clock_.now_ms());
    u.username = username;
    u.password_hash = hasher_.hash(password);
    u.display_name = display_name.empty() ? username : display_name;
    u.created_at = clock_.now_ms();
    auto r = stores_.users->create_user(u);
    if (!r) return r.error();
    return u.user_id;
}

Result<Ok> AccountService::attempt_from(const std::string& key) {
    if (key.empty()) return Ok{};
    if (auto wait = address_limiter_.take(std::hash<std::string>{}(key), clock_.now_ms())) {
        Error e = err(Code::rate_limited, "too many sign-in attempts from this address: wait");
        e.retry_after_ms = wait;
        return e;
    }
    return Ok{};
}

Result<SessionGrant> AccountService::login(const std::string& username, const std::string& password,
                                           std::optional<DeviceId> device, const std::string& device_name) {
    if (password.size() > kMaxPassword) return err(Code::unauthorized, "wrong username or password");
    if (auto e = check_short_text("device_name", device_name, kMaxNameChars)) return *e;
    if (auto wait = login_limiter_.take(std::hash<std::string>{}(username), clock_.now_ms())) {
        Error e = err(Code::rate_limited, "too many sign-in attempts for this username: wait");
        e.retry_after_ms = wait;
        return e;
    }
    auto user = is_username(username) ? stores_.users->user_by_name(username) : std::nullopt;
    if (!user) {
        hasher_.verify(dummy_hash_, password);
        return err(Code::unauthorized, "wrong username or password");
    }
    if (!hasher_.verify(user->password_hash, password)) return err(Code::unauthorized, "wrong username or password");
    auto now = clock_.now_ms();
    auto d = stores_.devices->open_device(user->user_id, device, ids_.next(now),
                                          device_name.empty() ? "device" : device_name, now, limits_.max_devices);
    if (!d) return d.error();
    return grant(*d);
}

std::string AccountService::new_refresh_token(UserId user) {
    return id_string(user) + "." + base64url(random_bytes(32));
}

Result<SessionGrant> AccountService::grant(const DeviceRecord& d) {
    auto now_s = clock_.now_ms() / 1000;
    SessionGrant g;
    g.user = d.user_id;
    g.device = d.device_id;
    g.expires_in = limits_.access_ttl_s;
    g.access_token = signer_.sign(AccessClaims{d.user_id, d.device_id, d.generation, now_s + limits_.access_ttl_s}, now_s);
    g.refresh_token = new_refresh_token(d.user_id);
    stores_.devices->add_refresh_token(d.user_id, d.device_id, sha256_hex(g.refresh_token),
                                       clock_.now_ms() + limits_.refresh_ttl_s * 1000);
    return g;
}

Result<SessionGrant> AccountService::refresh(const std::string& token) {
    auto user = owner_of(token);
    if (!user) return err(Code::unauthorized, "unknown or expired refresh token");
    auto next = new_refresh_token(*user);
    auto now = clock_.now_ms();
    auto out = stores_.devices->rotate_refresh_token(*user, sha256_hex(token), sha256_hex(next),
                                                     now + limits_.refresh_ttl_s * 1000, now);
    switch (out.kind) {
        case RefreshOutcome::Kind::unknown:
            return err(Code::unauthorized, "unknown or expired refresh token");
        case RefreshOutcome::Kind::replayed:
            announce_revocation(*user, out.device.device_id);
            return err(Code::unauthorized, "refresh token was already used: this device is signed out");
        case RefreshOutcome::Kind::rotated:
            break;
    }
    auto now_s = now / 1000;
    const auto& d = out.device;
    SessionGrant g;
    g.user = d.user_id;
    g.device = d.device_id;
    g.expires_in = limits_.access_ttl_s;
    g.access_token = signer_.sign(AccessClaims{d.user_id, d.device_id, d.generation, now_s + limits_.access_ttl_s}, now_s);
    g.refresh_token = std::move(next);
    return g;
}

Result<Principal> AccountService::authenticate(const std::string& access_token) {
    auto claims = signer_.verify(access_token, clock_.now_ms() / 1000);
    if (!claims) return err(Code::unauthorized, "missing, invalid or expired access token");
    auto d = stores_.devices->device(claims->user, claims->device);
    if (!d || d->generation != claims->generation) return err(Code::unauthorized, "access token was revoked");
    return Principal{claims->user, claims->device, claims->generation};
}

Result<Principal> AccountService::authenticate_ticket(const std::string& ticket) {
    auto user = owner_of(ticket);
    if (!user) return err(Code::unauthorized, "unknown, used or expired ticket");
    auto device = stores_.devices->take_ticket(*user, sha256_hex(ticket), clock_.now_ms());
    if (!device) return err(Code::unauthorized, "unknown, used or expired ticket");
    auto d = stores_.devices->device(*user, *device);
    if (!d) return err(Code::unauthorized, "unknown, used or expired ticket");
    return Principal{*user, *device, d->generation};
}

Result<Ticket> AccountService::issue_ticket(const Principal& who) {
    Ticket t{id_string(who.user) + "." + base64url(random_bytes(24)), limits_.ticket_ttl_s};
    stores_.devices->add_ticket(who.user, who.device, sha256_hex(t.ticket), clock_.now_ms() + limits_.ticket_ttl_s * 1000);
    return t;
}

void AccountService::seen(const Principal& who) { stores_.devices->touch_device(who.user, who.device, clock_.now_ms()); }

Result<Ok> AccountService::logout(const Principal& who) {
    stores_.devices->revoke_device(who.user, who.device);
    announce_revocation(who.user, who.device);
    return Ok{};
}

std::vector<DeviceRecord> AccountService::devices(const Principal& who) { return stores_.devices->devices(who.user); }

Result<Ok> AccountService::remove_device(const Principal& who, DeviceId device) {
    if (!stores_.devices->remove_device(who.user, device)) return err(Code::not_found, "no such device");
    announce_revocation(who.user, device);
    return Ok{};
}

Result<UserRecord> AccountService::user(UserId id) {
    auto u = stores_.users->user_by_id(id);
    if (!u) return err(Code::not_found, "no such user");
    return *u;
}

Result<UserRecord> AccountService::user_by_name(const std::string& username) {
    auto u = is_username(username) ? stores_.users->user_by_name(username) : std::nullopt;
    if (!u) return err(Code::not_found, "no such user");
    return *u;
}

Result<Ok> AccountService::check_profile(const ProfilePatch& patch) const {
    if (patch.display_name) {
        if (auto e = check_short_text("display_name", *patch.display_name, kMaxNameChars)) return *e;
        if (patch.display_name->empty()) return err(Code::invalid, "display_name must not be empty");
    }
    if (patch.description)
        if (auto e = check_short_text("description", *patch.description, kMaxNameChars)) return *e;
    return Ok{};
}

Result<UserRecord> AccountService::update_profile(const Principal& who, const ProfilePatch& patch) {
    if (auto ok = check_profile(patch); !ok) return ok.error();
    // The avatar is the media service's to set: it checks the image first.
    ProfilePatch fields = patch;
    fields.avatar_media_id.reset();
    return stores_.users->update_profile(who.user, fields);
}

Result<Ok> AccountService::confirm_password(const Principal& who, const std::string& password) {
    auto user = stores_.users->user_by_id(who.user);
    if (!user) return err(Code::unauthorized, "access token was revoked");
    if (auto wait = login_limiter_.take(std::hash<std::string>{}(user->username), clock_.now_ms())) {
        Error e = err(Code::rate_limited, "too many password attempts for this username: wait");
        e.retry_after_ms = wait;
        return e;
    }
    if (password.size() > kMaxPassword || !hasher_.verify(user->password_hash, password))
        return err(Code::unauthorized, "wrong password");
    return Ok{};
}

Result<Ok> AccountService::erase(UserId user) {
    auto devices = stores_.devices->devices(user);
    auto r = stores_.users->delete_user(user, clock_.now_ms());
    if (!r && !(r.error().code == Code::unavailable && stores_.users->user_deleted(user))) return r.error();
    for (const auto& d : devices) announce_revocation(user, d.device_id);
    return Ok{};
}

bool AccountService::deleted(UserId user) { return stores_.users->user_deleted(user); }

std::size_t AccountService::finish_deletions() {
    constexpr std::size_t kBatch = 100;
    std::size_t n = 0;
    for (UserId u : stores_.users->unfinished_deletions(kBatch))
        if (stores_.users->delete_user(u, clock_.now_ms())) ++n;
    return n;
}

void AccountService::announce_revocation(UserId user, DeviceId device) {
    auto ev = std::make_shared<BusEvent>();
    ev->kind = BusEvent::Kind::revoke;
    ev->device = device;
    bus_.publish(Channel::user(user), std::move(ev));
}

}  // namespace natter
