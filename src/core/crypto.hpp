#pragma once
// Small cryptographic helpers over OpenSSL.
#include <string>
#include <string_view>

namespace natter {

std::string random_bytes(std::size_t n);  // from the OS's CSPRNG
std::string base64url(std::string_view bytes);  // no padding
std::string sha256_hex(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);  // raw 32 bytes
std::string hex(std::string_view bytes);  // lower case
std::string random_uuid();  // version 4, lower case 8-4-4-4-12, from random_bytes
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace natter
