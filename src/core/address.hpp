#pragma once
// Client addresses, for limits per address: which address a request comes
// from (the peer, or behind a trusted proxy the address it appended to
// X-Forwarded-For), the key its limits are counted under (IPv4 /32, IPv6
// /64: one host, one customer's network), and address ranges exempt from
// them. No sockets here: strings in, strings out.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace natter {

// An IPv4 or IPv6 address range, "10.0.0.0/8", "::1", "2001:db8::/32"; IPv4
// as IPv4-mapped IPv6 inside, so "127.0.0.1" and "::ffff:127.0.0.1" match
// the same ranges.
class AddressRange {
public:
    // nullopt unless `text` is an address with an optional /prefix in range.
    static std::optional<AddressRange> parse(std::string_view text);
    bool contains(const std::array<std::uint8_t, 16>& address) const;

private:
    std::array<std::uint8_t, 16> base_{};
    int prefix_ = 128;
};

// A list of ranges from comma-separated text; the first bad item named in
// `error` (and nullopt).
std::optional<std::vector<AddressRange>> parse_ranges(std::string_view text, std::string* error = nullptr);

// 16 bytes (IPv4 mapped) of a textual IPv4 or IPv6 address; nullopt if not one.
std::optional<std::array<std::uint8_t, 16>> parse_address(std::string_view text);

struct AddressPolicy {
    std::vector<AddressRange> trusted_proxies;  // whose X-Forwarded-For is believed
    std::vector<AddressRange> exempt;           // no per-address limits for these clients
};

// The key a request's per-address limits are counted under: "4:a.b.c.d" or
// "6:xxxx:xxxx:xxxx:xxxx::/64"; empty when the client is exempt. `peer` is
// the TCP peer's address; when it is a trusted proxy, the client is the
// last address of `forwarded_for` (the one that proxy appended; earlier ones
// the client could have written itself). A trusted proxy that sent no
// usable X-Forwarded-For counts as the client.
std::string client_key(std::string_view peer, std::string_view forwarded_for, const AddressPolicy& policy);

}  // namespace natter
