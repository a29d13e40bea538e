#pragma once
// argon2id password hashes in the PHC encoded form.
#include <cstdint>
#include <string>

namespace natter {

struct PasswordCost {
    std::uint32_t time_cost = 2;         // iterations
    std::uint32_t memory_kib = 19 * 1024; // OWASP's argon2id minimum
    std::uint32_t parallelism = 1;
};

class PasswordHasher {
public:
    explicit PasswordHasher(PasswordCost cost) : cost_(cost) {}
    std::string hash(const std::string& password) const;
    bool verify(const std::string& encoded, const std::string& password) const;

private:
    PasswordCost cost_;
};

}  // namespace natter
