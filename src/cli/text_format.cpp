#include "text_format.hpp"

#include <ctime>
#include <random>

namespace natter::cli {

namespace {

std::string local(std::int64_t unix_ms, const char* format) {
    std::time_t t = std::time_t(unix_ms / 1000);
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[64];
    return std::string(buf, std::strftime(buf, sizeof buf, format, &tm));
}

}  // namespace

std::string clock_time(std::int64_t unix_ms) { return local(unix_ms, "%H:%M"); }
std::string date_time(std::int64_t unix_ms) { return local(unix_ms, "%Y-%m-%d %H:%M"); }

std::string printable(const std::string& text, const std::string& indent) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : text) {
        if (c == '\n') {
            out += "\n" + indent;
        } else if (c == '\t' || (c >= 0x20 && c != 0x7f)) {
            out += char(c);
        } else {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    // C1 controls (U+0080..U+009F, UTF-8 C2 80..C2 9F) also drive some terminals.
    for (std::size_t i = 0; (i = out.find('\xc2', i)) != std::string::npos; ++i) {
        if (i + 1 < out.size() && (unsigned char)out[i + 1] >= 0x80 && (unsigned char)out[i + 1] <= 0x9f) {
            unsigned char c = (unsigned char)out[i + 1];
            out.replace(i, 2, std::string("\\x") + kHex[c >> 4] + kHex[c & 15]);
        }
    }
    return out;
}

std::string shorten(const std::string& text, std::size_t max) {
    std::size_t points = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if ((static_cast<unsigned char>(text[i]) & 0xc0) == 0x80) continue;  // continuation byte
        if (points++ == max) return text.substr(0, i) + "…";
    }
    return text;
}


}  // namespace natter::cli
