#pragma once
// Which image a file is, judged by its first bytes, as natterd checks an
// upload and the CLI checks a file before sending it.
#include <string>
#include <string_view>

namespace natter {

// "image/jpeg", "image/png", "image/gif" or "image/webp"; "" for anything else.
std::string sniff_image(std::string_view head);

}  // namespace natter
