#pragma once
// Cheap field access for the compact JSON frames of the benchmark's hot path
// (natterd's and the relay's output, and the generator's own sends): a key is
// found by its `"key":` text. Good for frames whose string values hold no
// quote and whose key names are unique in the frame. natterd's `system`
// messages break the second rule (their `event` object has its own `type`,
// `user`, `members`), as may any frame with nested objects: for those,
// scan_top_level walks the top-level object only.

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

namespace detail {
inline std::size_t skip_ws(std::string_view t, std::size_t i) {
    while (i < t.size() && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')) ++i;
    return i;
}
// t[i] is the opening quote; returns the index of the closing one, or npos.
inline std::size_t string_end(std::string_view t, std::size_t i) {
    for (++i; i < t.size(); ++i) {
        if (t[i] == '\\') { ++i; continue; }
        if (t[i] == '"') return i;
    }
    return std::string_view::npos;
}
}  // namespace detail

// Calls fn(key, value, is_string) for each member of the top-level JSON
// object `text`, in wire order, without descending into nested values: a
// string value comes without its quotes (escapes left as they are), anything
// else as its raw text (a number, a literal, a whole nested object or array).
// Keys are compared as written (no unescaping). Returns false when `text` is
// not a well-formed object by this skim (fn may have been called already).
template <class Fn>
bool scan_top_level(std::string_view t, Fn&& fn) {
    using detail::skip_ws;
    using detail::string_end;
    constexpr auto npos = std::string_view::npos;
    std::size_t i = skip_ws(t, 0);
    if (i >= t.size() || t[i] != '{') return false;
    i = skip_ws(t, i + 1);
    if (i < t.size() && t[i] == '}') return true;
    for (;;) {
        if (i >= t.size() || t[i] != '"') return false;
        std::size_t kend = string_end(t, i);
        if (kend == npos) return false;
        std::string_view key = t.substr(i + 1, kend - i - 1);
        i = skip_ws(t, kend + 1);
        if (i >= t.size() || t[i] != ':') return false;
        i = skip_ws(t, i + 1);
        if (i >= t.size()) return false;
        std::string_view value;
        bool is_string = false;
        if (t[i] == '"') {
            std::size_t vend = string_end(t, i);
            if (vend == npos) return false;
            value = t.substr(i + 1, vend - i - 1);
            is_string = true;
            i = vend + 1;
        } else if (t[i] == '{' || t[i] == '[') {
            std::size_t start = i, depth = 0;
            for (; i < t.size(); ++i) {
                char ch = t[i];
                if (ch == '"') {
                    i = string_end(t, i);
                    if (i == npos) return false;
                } else if (ch == '{' || ch == '[') {
                    ++depth;
                } else if (ch == '}' || ch == ']') {
                    if (--depth == 0) break;
                }
            }
            if (i >= t.size()) return false;
            ++i;
            value = t.substr(start, i - start);
        } else {
            std::size_t start = i;
            while (i < t.size() && t[i] != ',' && t[i] != '}' && t[i] != ' ' && t[i] != '\n' && t[i] != '\t' &&
                   t[i] != '\r')
                ++i;
            value = t.substr(start, i - start);
            if (value.empty()) return false;
        }
        fn(key, value, is_string);
        i = skip_ws(t, i);
        if (i >= t.size()) return false;
        if (t[i] == '}') return true;
        if (t[i] != ',') return false;
        i = skip_ws(t, i + 1);
    }
}

// The frame's own `type` (the top-level key), or nullopt: safe for system
// messages, whose nested `event` has a `type` that scan_string would find first.
inline std::optional<std::string_view> frame_type(std::string_view text) {
    std::optional<std::string_view> type;
    scan_top_level(text, [&](std::string_view key, std::string_view value, bool is_string) {
        if (is_string && key == "type") type = value;
    });
    return type;
}

}  // namespace natter::bench
