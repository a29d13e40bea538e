#pragma once
// Remote IP addresses as the per-address connection limit sees them: one
// 16-byte form for both families (IPv4 as ::ffff:a.b.c.d), prefixes to
// exempt, and the key connections are counted under.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace natter {

using IpBytes = std::array<std::uint8_t, 16>;

struct IpPrefix {
    IpBytes bytes{};
    unsigned bits = 128;  // of the 16-byte form: an IPv4 /8 is 96 + 8
};

IpBytes ipv4_bytes(const std::array<std::uint8_t, 4>& v4);
// An IPv4-mapped IPv6 address is taken as the IPv4 one it carries.
IpBytes ipv6_bytes(const std::array<std::uint8_t, 16>& v6);
std::optional<IpBytes> parse_ip(std::string_view text);
std::string ip_text(const IpBytes& ip);
bool is_ipv4(const IpBytes& ip);

// "127.0.0.0/8, ::1, 2001:db8::/32": addresses (the whole address) or
// prefixes, comma-separated; "" is none. `invalid` names the bad entry.
Result<std::vector<IpPrefix>> parse_prefixes(std::string_view list);
bool in_prefix(const IpBytes& ip, const IpPrefix& prefix);

// What counts as one address: an IPv4 address, or an IPv6 /64 (one
// subscriber's network: a host there can take any address in it).
IpBytes limit_key(const IpBytes& ip);

bool in_any(const IpBytes& ip, const std::vector<IpPrefix>& prefixes);

// Who an HTTP request comes from, for limits per client address.
struct AddressPolicy {
    std::vector<IpPrefix> trusted_proxies;  // server.trusted_proxies: whose X-Forwarded-For is believed
    std::vector<IpPrefix> exempt;           // limits.per_address_exempt: clients not counted
};

// The key a request's per-address limits are counted under ("4:a.b.c.d",
// "6:2001:db8:1:2::/64"), or "" when the client is exempt. The client is
// the TCP peer, or, when the peer is a trusted proxy, the last address of
// `forwarded_for`: the one that proxy appended (earlier entries the client
// may have written itself). A trusted proxy that sent none usable counts
// as the client. An unknown peer (the socket already gone) is exempt.
std::string client_key(const std::optional<IpBytes>& peer, std::string_view forwarded_for, const AddressPolicy& policy);

}  // namespace natter
