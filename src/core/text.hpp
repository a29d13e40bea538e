#pragma once
// Text checks for hostile input: UTF-8 validity, code point counts, UUIDs,
// usernames.
#include <cstddef>
#include <optional>
#include <string_view>

namespace natter {

// Number of code points in valid UTF-8, or nullopt when the bytes are not
// valid UTF-8 (overlongs, surrogates and values past U+10FFFF included).
std::optional<std::size_t> utf8_length(std::string_view s);

// A UUID in its canonical 8-4-4-4-12 hex form, either case.
bool is_uuid(std::string_view s);

// 3-32 characters of [a-z0-9_.].
bool is_username(std::string_view s);

}  // namespace natter
