#include "core/address.hpp"

#include <arpa/inet.h>

#include <array>
#include <cstdio>
#include <cstring>

namespace natter {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool is_v4_mapped(const std::array<std::uint8_t, 16>& a) {
    for (int i = 0; i < 10; ++i)
        if (a[i]) return false;
    return a[10] == 0xff && a[11] == 0xff;
}

}  // namespace

std::optional<std::array<std::uint8_t, 16>> parse_address(std::string_view text) {
    text = trim(text);
    // "[v6]" as in a Host header or some proxies' forwarded lists.
    if (text.size() > 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
    if (text.empty() || text.size() > 45) return std::nullopt;
    std::string z(text);
    std::array<std::uint8_t, 16> out{};
    in_addr v4{};
    if (inet_pton(AF_INET, z.c_str(), &v4) == 1) {
        out[10] = out[11] = 0xff;
        std::memcpy(out.data() + 12, &v4, 4);
        return out;
    }
    in6_addr v6{};
    if (inet_pton(AF_INET6, z.c_str(), &v6) == 1) {
        std::memcpy(out.data(), &v6, 16);
        return out;
    }
    return std::nullopt;
}

std::optional<AddressRange> AddressRange::parse(std::string_view text) {
    text = trim(text);
    auto slash = text.find('/');
    auto address = parse_address(text.substr(0, slash));
    if (!address) return std::nullopt;
    bool v4 = text.substr(0, slash).find(':') == std::string_view::npos;
    int max = v4 ? 32 : 128, prefix = max;
    if (slash != std::string_view::npos) {
        auto digits = text.substr(slash + 1);
        if (digits.empty() || digits.size() > 3) return std::nullopt;
        prefix = 0;
        for (char c : digits) {
            if (c < '0' || c > '9') return std::nullopt;
            prefix = prefix * 10 + (c - '0');
        }
        if (prefix > max) return std::nullopt;
    }
    AddressRange r;
    r.prefix_ = v4 ? prefix + 96 : prefix;
    r.base_ = *address;
    // Bits past the prefix are not part of the range.
    for (int bit = r.prefix_; bit < 128; ++bit) r.base_[bit / 8] &= std::uint8_t(~(0x80 >> (bit % 8)));
    return r;
}

bool AddressRange::contains(const std::array<std::uint8_t, 16>& address) const {
    int full = prefix_ / 8, rest = prefix_ % 8;
    if (std::memcmp(address.data(), base_.data(), full) != 0) return false;
    if (rest == 0) return true;
    std::uint8_t mask = std::uint8_t(0xff << (8 - rest));
    return (address[full] & mask) == base_[full];
}

std::optional<std::vector<AddressRange>> parse_ranges(std::string_view text, std::string* error) {
    std::vector<AddressRange> out;
    while (!text.empty()) {
        auto comma = text.find(',');
        auto item = trim(text.substr(0, comma));
        text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
        if (item.empty()) continue;
        auto r = AddressRange::parse(item);
        if (!r) {
            if (error) *error = std::string(item);
            return std::nullopt;
        }
        out.push_back(*r);
    }
    return out;
}

std::string client_key(std::string_view peer, std::string_view forwarded_for, const AddressPolicy& policy) {
    auto address = parse_address(peer);
    if (!address) return "?";  // cannot happen for a TCP peer; one shared bucket if it does
    auto in = [](const std::vector<AddressRange>& ranges, const std::array<std::uint8_t, 16>& a) {
        for (const auto& r : ranges)
            if (r.contains(a)) return true;
        return false;
    };
    if (in(policy.trusted_proxies, *address)) {
        auto comma = forwarded_for.rfind(',');
        auto last = comma == std::string_view::npos ? forwarded_for : forwarded_for.substr(comma + 1);
        if (auto forwarded = parse_address(last)) address = forwarded;
    }
    if (in(policy.exempt, *address)) return "";
    const auto& a = *address;
    char buf[64];
    if (is_v4_mapped(a)) {
        std::snprintf(buf, sizeof buf, "4:%u.%u.%u.%u", a[12], a[13], a[14], a[15]);
    } else {
        std::snprintf(buf, sizeof buf, "6:%02x%02x:%02x%02x:%02x%02x:%02x%02x::/64", a[0], a[1], a[2], a[3], a[4], a[5],
                      a[6], a[7]);
    }
    return buf;
}

}  // namespace natter
