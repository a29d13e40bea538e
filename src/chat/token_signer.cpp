#include "chat/token_signer.hpp"

#include <jwt.h>

#include "core/crypto.hpp"

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <stdexcept>

namespace natter {

namespace {
struct JwtFree {
    void operator()(jwt_t* j) const { jwt_free(j); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtFree>;
constexpr const char* kIssuer = "natter";
}  // namespace

TokenSigner::TokenSigner(std::string key) : key_(std::move(key)) {
    if (key_.size() < 32) throw std::invalid_argument("token key must be at least 32 bytes");
}

std::string TokenSigner::sign(const AccessClaims& c, std::int64_t issued_at_s) const {
    jwt_t* raw = nullptr;
    if (jwt_new(&raw) != 0) throw std::runtime_error("jwt_new failed");
    JwtPtr jwt(raw);
    jwt_add_grant(raw, "iss", kIssuer);
    jwt_add_grant(raw, "sub", id_string(c.user).c_str());
    jwt_add_grant(raw, "did", id_string(c.device).c_str());
    jwt_add_grant_int(raw, "gen", long(c.generation));
    jwt_add_grant_int(raw, "iat", long(issued_at_s));
    jwt_add_grant_int(raw, "exp", long(c.expires_at_s));
    // A unique id, so two tokens minted in the same second still differ.
    jwt_add_grant(raw, "jti", base64url(random_bytes(12)).c_str());
    if (jwt_set_alg(raw, JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(key_.data()), int(key_.size())) != 0)
        throw std::runtime_error("jwt_set_alg failed");
    char* s = jwt_encode_str(raw);
    if (!s) throw std::runtime_error("jwt_encode_str failed");
    std::string out(s);
    std::free(s);
    return out;
}

std::optional<AccessClaims> TokenSigner::verify(const std::string& token, std::int64_t now_s) const {
    if (token.empty() || token.size() > 4096) return std::nullopt;
    jwt_t* raw = nullptr;
    if (jwt_decode(&raw, token.c_str(), reinterpret_cast<const unsigned char*>(key_.data()), int(key_.size())) != 0)
        return std::nullopt;
    JwtPtr jwt(raw);
    // With a key given, libjwt verifies the signature of HS* tokens; insist on
    // exactly HS256 so that `alg: none` or another algorithm never passes.
    if (jwt_get_alg(raw) != JWT_ALG_HS256) return std::nullopt;
    const char* iss = jwt_get_grant(raw, "iss");
    if (!iss || std::string(iss) != kIssuer) return std::nullopt;
    const char* sub = jwt_get_grant(raw, "sub");
    const char* did = jwt_get_grant(raw, "did");
    if (!sub || !did) return std::nullopt;
    auto user = parse_id(sub);
    auto device = parse_id(did);
    errno = 0;
    long exp = jwt_get_grant_int(raw, "exp");
    if (errno != 0) return std::nullopt;
    long gen = jwt_get_grant_int(raw, "gen");
    if (errno != 0) return std::nullopt;
    if (!user || !device || exp <= now_s) return std::nullopt;
    return AccessClaims{*user, *device, gen, exp};
}

}  // namespace natter
