#pragma once
// JSON from clients (WebSocket frames, HTTP bodies) goes through here: text
// nested deeper than kMaxJsonDepth is refused before the parser sees it, so
// no later walk of the value (dump, copy, destruction) can run deep.
#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace natter {

// Arrays and objects inside one another. The protocol's deepest frame is 3.
constexpr std::size_t kMaxJsonDepth = 32;

// The deepest nesting of arrays and objects in `text`, brackets inside
// strings not counted; stops counting past `stop_above`. Does not validate.
std::size_t json_depth(std::string_view text, std::size_t stop_above = kMaxJsonDepth);

// The value, or `invalid` whose message completes "<what> ...": "is not
// valid JSON (or not UTF-8)", "is nested deeper than 32 arrays or objects".
Result<nlohmann::json> parse_client_json(std::string_view text);

}  // namespace natter
