// Credentials: access tokens (HS256 JWTs) and argon2id password hashes.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "chat/password_hasher.hpp"
#include "chat/token_signer.hpp"
#include "core/crypto.hpp"

namespace {

using natter::AccessClaims;
using natter::base64url;
using natter::TokenSigner;
using nlohmann::json;

const std::string kKey = "0123456789abcdef0123456789abcdef-key-one";
const std::string kOtherKey = "fedcba9876543210fedcba9876543210-key-two";
constexpr std::int64_t kNowS = 1'750'000'000;

AccessClaims claims(std::int64_t expires_at_s) { return AccessClaims{1001, 2002, 3, expires_at_s}; }

json payload_for(const AccessClaims& c) {
    return {{"iss", "natter"}, {"sub", std::to_string(c.user)}, {"did", std::to_string(c.device)},
            {"gen", c.generation}, {"iat", kNowS}, {"exp", c.expires_at_s}};
}

std::string hs256(const std::string& key, const std::string& data) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), int(key.size()), reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         mac, &len);
    return std::string(reinterpret_cast<char*>(mac), len);
}

// A JWT assembled by hand, as an attacker would.
std::string jwt(const json& header, const json& payload, const std::string& signature) {
    return base64url(header.dump()) + "." + base64url(payload.dump()) + "." + base64url(signature);
}

std::string hand_signed(const json& payload, const std::string& key) {
    const json header = {{"alg", "HS256"}, {"typ", "JWT"}};
    std::string input = base64url(header.dump()) + "." + base64url(payload.dump());
    return input + "." + base64url(hs256(key, input));
}

void expect_claims_eq(const AccessClaims& got, const AccessClaims& want) {
    EXPECT_EQ(got.user, want.user);
    EXPECT_EQ(got.device, want.device);
    EXPECT_EQ(got.generation, want.generation);
    EXPECT_EQ(got.expires_at_s, want.expires_at_s);
}

TEST(TokenSigner, VerifyReturnsTheSignedClaims) {
    TokenSigner signer(kKey);
    auto want = claims(kNowS + 900);
    auto got = signer.verify(signer.sign(want, kNowS), kNowS);
    ASSERT_TRUE(got.has_value());
    expect_claims_eq(*got, want);
}

TEST(TokenSigner, RejectsAnExpiredToken) {
    TokenSigner signer(kKey);
    auto token = signer.sign(claims(kNowS + 900), kNowS);
    EXPECT_TRUE(signer.verify(token, kNowS + 899).has_value());
    EXPECT_FALSE(signer.verify(token, kNowS + 900).has_value());
    EXPECT_FALSE(signer.verify(token, kNowS + 100000).has_value());
}

TEST(TokenSigner, RejectsATokenSignedWithAnotherKey) {
    TokenSigner mine(kKey), theirs(kOtherKey);
    auto token = theirs.sign(claims(kNowS + 900), kNowS);
    EXPECT_TRUE(theirs.verify(token, kNowS).has_value());
    EXPECT_FALSE(mine.verify(token, kNowS).has_value());
}

TEST(TokenSigner, AcceptsAHandMadeHs256Token) {
    // Checks the hand-made tokens below are well formed, so that their
    // rejection is down to the forgery and not to a malformed token.
    TokenSigner signer(kKey);
    auto got = signer.verify(hand_signed(payload_for(claims(kNowS + 60)), kKey), kNowS);
    ASSERT_TRUE(got.has_value());
    expect_claims_eq(*got, claims(kNowS + 60));
}

TEST(TokenSigner, RejectsATamperedPayload) {
    TokenSigner signer(kKey);
    auto token = signer.sign(claims(kNowS + 900), kNowS);
    auto first_dot = token.find('.'), last_dot = token.rfind('.');
    ASSERT_NE(first_dot, last_dot);
    auto forged = payload_for(claims(kNowS + 900));
    forged["sub"] = "1";  // someone else's account, same signature
    std::string tampered =
        token.substr(0, first_dot + 1) + base64url(forged.dump()) + token.substr(last_dot);
    EXPECT_FALSE(signer.verify(tampered, kNowS).has_value());
}

TEST(TokenSigner, RejectsAlgNone) {
    TokenSigner signer(kKey);
    const json header = {{"alg", "none"}, {"typ", "JWT"}};
    const auto payload = payload_for(claims(kNowS + 900));
    EXPECT_FALSE(signer.verify(jwt(header, payload, ""), kNowS).has_value());
    // Nor with a signature that would be right for HS256.
    std::string input = base64url(header.dump()) + "." + base64url(payload.dump());
    EXPECT_FALSE(signer.verify(input + "." + base64url(hs256(kKey, input)), kNowS).has_value());
}

TEST(TokenSigner, RejectsHs256WithAnEmptySignature) {
    TokenSigner signer(kKey);
    const json header = {{"alg", "HS256"}, {"typ", "JWT"}};
    EXPECT_FALSE(signer.verify(jwt(header, payload_for(claims(kNowS + 900)), ""), kNowS).has_value());
}

TEST(TokenSigner, RejectsAWellSignedTokenWithWrongClaims) {
    TokenSigner signer(kKey);
    auto good = payload_for(claims(kNowS + 900));
    auto with = [&](const char* name, json value) {
        auto p = good;
        p[name] = std::move(value);
        return hand_signed(p, kKey);
    };
    auto without = [&](const char* name) {
        auto p = good;
        p.erase(name);
        return hand_signed(p, kKey);
    };
    EXPECT_FALSE(signer.verify(with("iss", "someone-else"), kNowS).has_value());
    EXPECT_FALSE(signer.verify(with("sub", "0"), kNowS).has_value());
    EXPECT_FALSE(signer.verify(with("did", "-5"), kNowS).has_value());
    EXPECT_FALSE(signer.verify(without("iss"), kNowS).has_value());
    EXPECT_FALSE(signer.verify(without("sub"), kNowS).has_value());
    EXPECT_FALSE(signer.verify(without("did"), kNowS).has_value());
    EXPECT_FALSE(signer.verify(without("exp"), kNowS).has_value());
    EXPECT_FALSE(signer.verify(without("gen"), kNowS).has_value());
}

TEST(TokenSigner, RejectsGarbage) {
    TokenSigner signer(kKey);
    for (const char* s : {"", "abc", "a.b.c", "..", "eyJhbGciOiJIUzI1NiJ9.e30."})
        EXPECT_FALSE(signer.verify(s, kNowS).has_value()) << s;
}

TEST(TokenSigner, RequiresAKeyOfAtLeast32Bytes) {
    EXPECT_THROW(TokenSigner(""), std::invalid_argument);
    EXPECT_THROW(TokenSigner(std::string(31, 'k')), std::invalid_argument);
    EXPECT_NO_THROW(TokenSigner(std::string(32, 'k')));
}

const natter::PasswordCost kCheap{1, 64, 1};

TEST(PasswordHasher, VerifiesTheRightPasswordOnly) {
    natter::PasswordHasher hasher(kCheap);
    auto encoded = hasher.hash("correct horse battery staple");
    EXPECT_EQ(encoded.rfind("$argon2id$", 0), 0u) << encoded;
    EXPECT_TRUE(hasher.verify(encoded, "correct horse battery staple"));
    EXPECT_FALSE(hasher.verify(encoded, "correct horse battery stapl"));
    EXPECT_FALSE(hasher.verify(encoded, ""));
}

TEST(PasswordHasher, SaltsEveryHash) {
    natter::PasswordHasher hasher(kCheap);
    auto a = hasher.hash("same password");
    auto b = hasher.hash("same password");
    EXPECT_NE(a, b);
    EXPECT_TRUE(hasher.verify(a, "same password"));
    EXPECT_TRUE(hasher.verify(b, "same password"));
}

TEST(PasswordHasher, RejectsAMalformedHash) {
    natter::PasswordHasher hasher(kCheap);
    EXPECT_FALSE(hasher.verify("", "pw"));
    EXPECT_FALSE(hasher.verify("$argon2id$garbage", "pw"));
}

}  // namespace
