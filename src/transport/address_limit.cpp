#include "transport/address_limit.hpp"

namespace natter::transport {

AddressSlot& AddressSlot::operator=(AddressSlot&& o) noexcept {
    if (this != &o) {
        release();
        owner_ = o.owner_;
        key_ = o.key_;
        o.owner_ = nullptr;
    }
    return *this;
}

void AddressSlot::release() {
    if (owner_) owner_->release(key_);
    owner_ = nullptr;
}

AddressLimit::AddressLimit(const Limits& limits, const std::vector<IpPrefix>& proxies)
    : max_(limits.max_connections_per_address) {
    // check_limits has refused a list that does not parse.
    if (auto exempt = parse_prefixes(limits.per_address_exempt)) exempt_ = std::move(*exempt);
    exempt_.insert(exempt_.end(), proxies.begin(), proxies.end());
}

std::optional<AddressSlot> AddressLimit::admit(const std::optional<IpBytes>& remote) {
    if (max_ == 0 || !remote) return AddressSlot{};
    for (const auto& p : exempt_)
        if (in_prefix(*remote, p)) return AddressSlot{};
    auto key = limit_key(*remote);
    std::lock_guard lock(mu_);
    auto& open = open_[key];
    if (open >= max_) {
        ++refused_;
        return std::nullopt;
    }
    ++open;
    return AddressSlot{this, key};
}

void AddressLimit::release(const IpBytes& key) {
    std::lock_guard lock(mu_);
    auto it = open_.find(key);
    if (it != open_.end() && --it->second == 0) open_.erase(it);
}

std::uint64_t AddressLimit::refused() const {
    std::lock_guard lock(mu_);
    return refused_;
}

}  // namespace natter::transport
