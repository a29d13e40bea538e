#pragma once
// Image messages as text: sizes, the attachment of a message, and what a
// message says (its body, or its image and caption). Pure functions; the
// caller makes the result printable().
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace natter::cli {

using json = nlohmann::json;

// "512 B", "3.4 KB", "300 KB", "16.8 MB" (powers of 1000).
std::string human_size(std::uint64_t bytes);

// "[image/png 640x480, 300 KB]" from a message's `attachment` ("[image]"
// when it has none or an odd shape).
std::string attachment_text(const json& attachment);

// A message's text: its body, or for an image
// "[image/png 640x480, 300 KB] caption — natter media get ID";
// "(kind)" for a message with neither. Without `how_to_get`, no "— natter media get ID".
std::string message_text(const json& message, bool how_to_get = true);

// "png" for image/png, "jpg", "gif", "webp"; "bin" for anything else.
std::string extension_for(const std::string& mime);

}  // namespace natter::cli
