#pragma once
// Access tokens: HS256 JWTs naming the user, the device and the device's
// token generation (a revoked device's older tokens stop working).
#include <cstdint>
#include <optional>
#include <string>

#include "core/ids.hpp"

namespace natter {

struct AccessClaims {
    UserId user = 0;
    DeviceId device = 0;
    std::int64_t generation = 0;
    std::int64_t expires_at_s = 0;
};

class TokenSigner {
public:
    explicit TokenSigner(std::string key);  // at least 32 bytes
    std::string sign(const AccessClaims& claims, std::int64_t issued_at_s) const;
    // The claims of a token signed with this key by HS256 and not expired at
    // `now_s`; nullopt for anything else (other algorithms, `none` included).
    std::optional<AccessClaims> verify(const std::string& token, std::int64_t now_s) const;

private:
    std::string key_;
};

}  // namespace natter
