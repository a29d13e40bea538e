#pragma once
// limits.max_connections_per_address: open TCP connections counted per
// client address (an IPv4 address, an IPv6 /64), except the exempt
// prefixes. A connection holds an AddressSlot for its whole life, HTTP and
// then WebSocket; the count drops when the slot goes.
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "core/address.hpp"
#include "core/limits.hpp"

namespace natter::transport {

class AddressLimit;

class AddressSlot {
public:
    AddressSlot() = default;  // counts nothing: exempt, unknown, or no limit
    AddressSlot(AddressLimit* owner, const IpBytes& key) : owner_(owner), key_(key) {}
    AddressSlot(AddressSlot&& o) noexcept : owner_(o.owner_), key_(o.key_) { o.owner_ = nullptr; }
    AddressSlot& operator=(AddressSlot&& o) noexcept;
    AddressSlot(const AddressSlot&) = delete;
    AddressSlot& operator=(const AddressSlot&) = delete;
    ~AddressSlot() { release(); }

private:
    void release();
    AddressLimit* owner_ = nullptr;
    IpBytes key_{};
};

class AddressLimit {
public:
    // Connections from `proxies` (server.trusted_proxies) are not counted
    // either: a proxy carries many clients, and limits them itself.
    AddressLimit(const Limits& limits, const std::vector<IpPrefix>& proxies);
    // A slot for a new connection from `remote` (nullopt when its address is unknown),
    // or nullopt when that address already has the most it may.
    std::optional<AddressSlot> admit(const std::optional<IpBytes>& remote);
    std::uint64_t refused() const;

private:
    friend class AddressSlot;
    void release(const IpBytes& key);
    std::size_t max_;
    std::vector<IpPrefix> exempt_;
    mutable std::mutex mu_;
    std::map<IpBytes, std::size_t> open_;  // only addresses with a connection open
    std::uint64_t refused_ = 0;
};

}  // namespace natter::transport
