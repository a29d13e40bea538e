#include "core/image.hpp"

namespace natter {

std::string sniff_image(std::string_view h) {
    auto starts = [&](std::string_view magic) { return h.substr(0, magic.size()) == magic; };
    if (starts("\xFF\xD8\xFF")) return "image/jpeg";
    if (starts("\x89PNG\r\n\x1A\n")) return "image/png";
    if (starts("GIF87a") || starts("GIF89a")) return "image/gif";
    if (h.size() >= 12 && starts("RIFF") && h.substr(8, 4) == "WEBP") return "image/webp";
    return "";
}

}  // namespace natter
