#include "core/address.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace natter {

namespace {

constexpr std::array<std::uint8_t, 12> kV4Mapped = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

}  // namespace

IpBytes ipv4_bytes(const std::array<std::uint8_t, 4>& v4) {
    IpBytes out{};
    std::memcpy(out.data(), kV4Mapped.data(), kV4Mapped.size());
    std::memcpy(out.data() + 12, v4.data(), 4);
    return out;
}

IpBytes ipv6_bytes(const std::array<std::uint8_t, 16>& v6) { return v6; }

bool is_ipv4(const IpBytes& ip) { return std::memcmp(ip.data(), kV4Mapped.data(), kV4Mapped.size()) == 0; }

std::optional<IpBytes> parse_ip(std::string_view text) {
    std::string s(text);
    std::array<std::uint8_t, 4> v4{};
    if (inet_pton(AF_INET, s.c_str(), v4.data()) == 1) return ipv4_bytes(v4);
    IpBytes v6{};
    if (inet_pton(AF_INET6, s.c_str(), v6.data()) == 1) return ipv6_bytes(v6);
    return std::nullopt;
}

std::string ip_text(const IpBytes& ip) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (is_ipv4(ip)) inet_ntop(AF_INET, ip.data() + 12, buf, sizeof buf);
    else inet_ntop(AF_INET6, ip.data(), buf, sizeof buf);
    return buf;
}

Result<std::vector<IpPrefix>> parse_prefixes(std::string_view list) {
    std::vector<IpPrefix> out;
    while (!list.empty()) {
        auto comma = list.find(',');
        auto entry = trim(list.substr(0, comma));
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
        if (entry.empty()) continue;
        auto slash = entry.find('/');
        auto ip = parse_ip(entry.substr(0, slash));
        const std::string bad = "\"" + std::string(entry) + "\" is not an IP address or prefix (like 10.0.0.0/8 or 2001:db8::/32)";
        if (!ip) return err(Code::invalid, bad);
        IpPrefix p{*ip, 128};
        if (slash != std::string_view::npos) {
            auto digits = entry.substr(slash + 1);
            unsigned bits = 0;
            auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
            unsigned most = is_ipv4(*ip) ? 32 : 128;
            if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || bits > most)
                return err(Code::invalid, bad);
            p.bits = is_ipv4(*ip) ? 96 + bits : bits;
        }
        out.push_back(p);
    }
    return out;
}

bool in_prefix(const IpBytes& ip, const IpPrefix& prefix) {
    unsigned whole = prefix.bits / 8, rest = prefix.bits % 8;
    if (std::memcmp(ip.data(), prefix.bytes.data(), whole) != 0) return false;
    if (rest == 0) return true;
    std::uint8_t mask = std::uint8_t(0xff << (8 - rest));
    return (ip[whole] & mask) == (prefix.bytes[whole] & mask);
}

bool in_any(const IpBytes& ip, const std::vector<IpPrefix>& prefixes) {
    for (const auto& p : prefixes)
        if (in_prefix(ip, p)) return true;
    return false;
}

std::string client_key(const std::optional<IpBytes>& peer, std::string_view forwarded_for, const AddressPolicy& policy) {
    if (!peer) return "";
    auto client = *peer;
    if (in_any(client, policy.trusted_proxies)) {
        auto comma = forwarded_for.rfind(',');
        auto last = trim(comma == std::string_view::npos ? forwarded_for : forwarded_for.substr(comma + 1));
        if (last.size() > 2 && last.front() == '[' && last.back() == ']') last = last.substr(1, last.size() - 2);
        if (auto forwarded = parse_ip(last)) client = *forwarded;
    }
    if (in_any(client, policy.exempt)) return "";
    auto key = limit_key(client);
    return is_ipv4(key) ? "4:" + ip_text(key) : "6:" + ip_text(key) + "/64";
}

IpBytes limit_key(const IpBytes& ip) {
    if (is_ipv4(ip)) return ip;
    IpBytes key{};
    std::memcpy(key.data(), ip.data(), 8);
    return key;
}

}  // namespace natter
