#pragma once
// Cheap field access for the compact JSON frames of the benchmark's hot path
// (natterd's and the relay's output, and the generator's own sends): a key is
// found by its `"key":` text. Good for frames whose string values hold no
// quote and whose key names are unique in the frame, which is true of every
// frame the benchmark reads; anything else goes through a real JSON parser.

#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

namespace natter::bench {

// The string value of "key":"value", without quotes, or nullopt.
inline std::optional<std::string_view> scan_string(std::string_view text, std::string_view key) {
    for (std::size_t at = 0;;) {
        at = text.find(key, at);
        if (at == std::string_view::npos) return std::nullopt;
        std::size_t k = at;
        at += key.size();
        if (k == 0 || text[k - 1] != '"' || text.substr(at, 3) != "\":\"") continue;
        at += 3;
        auto end = text.find('"', at);
        if (end == std::string_view::npos) return std::nullopt;
        return text.substr(at, end - at);
    }
}

// The unsigned number value of "key":N, or nullopt.
inline std::optional<std::uint64_t> scan_uint(std::string_view text, std::string_view key) {
    for (std::size_t at = 0;;) {
        at = text.find(key, at);
        if (at == std::string_view::npos) return std::nullopt;
        std::size_t k = at;
        at += key.size();
        if (k == 0 || text[k - 1] != '"' || text.substr(at, 2) != "\":") continue;
        at += 2;
        std::uint64_t v = 0;
        auto [p, ec] = std::from_chars(text.data() + at, text.data() + text.size(), v);
        if (ec != std::errc()) return std::nullopt;
        return v;
    }
}

// The raw JSON string value of "key":"...", quotes and escapes included, or nullopt.
inline std::optional<std::string_view> scan_raw_string(std::string_view text, std::string_view key) {
    auto inner = scan_string(text, key);
    if (!inner) return std::nullopt;
    std::size_t begin = static_cast<std::size_t>(inner->data() - text.data()) - 1;
    for (std::size_t i = begin + 1; i < text.size(); ++i) {
        if (text[i] == '\\') { ++i; continue; }
        if (text[i] == '"') return text.substr(begin, i - begin + 1);
    }
    return std::nullopt;
}

}  // namespace natter::bench
