#include "chat/password_hasher.hpp"

#include <argon2.h>

#include <stdexcept>

#include "core/crypto.hpp"

namespace natter {

std::string PasswordHasher::hash(const std::string& password) const {
    auto salt = random_bytes(16);
    std::size_t len = argon2_encodedlen(cost_.time_cost, cost_.memory_kib, cost_.parallelism, salt.size(), 32,
                                        Argon2_id);
    std::string encoded(len, '\0');
    int rc = argon2id_hash_encoded(cost_.time_cost, cost_.memory_kib, cost_.parallelism, password.data(),
                                   password.size(), salt.data(), salt.size(), 32, encoded.data(), len);
    if (rc != ARGON2_OK) throw std::runtime_error(std::string("argon2: ") + argon2_error_message(rc));
    encoded.resize(encoded.find('\0'));
    return encoded;
}

bool PasswordHasher::verify(const std::string& encoded, const std::string& password) const {
    return argon2id_verify(encoded.c_str(), password.data(), password.size()) == ARGON2_OK;
}

}  // namespace natter
