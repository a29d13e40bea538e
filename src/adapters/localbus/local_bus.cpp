#include "adapters/localbus/local_bus.hpp"

#include <vector>

namespace natter::localbus {

class LocalBus::Sub final : public Subscription {
public:
    Sub(LocalBus* bus, Channel channel, std::uint64_t token) : bus_(bus), channel_(channel), token_(token) {}
    ~Sub() override { bus_->unsubscribe(channel_, token_); }

private:
    LocalBus* bus_;
    Channel channel_;
    std::uint64_t token_;
};

std::unique_ptr<Subscription> LocalBus::subscribe(Channel channel, Handler handler) {
    std::lock_guard lock(mu_);
    auto token = next_token_++;
    channels_[channel][token] = std::make_shared<Handler>(std::move(handler));
    return std::make_unique<Sub>(this, channel, token);
}

void LocalBus::unsubscribe(Channel channel, std::uint64_t token) {
    std::lock_guard lock(mu_);
    auto it = channels_.find(channel);
    if (it == channels_.end()) return;
    it->second.erase(token);
    if (it->second.empty()) channels_.erase(it);
}

void LocalBus::publish(Channel channel, std::shared_ptr<const BusEvent> event) {
    // Copy the handlers out of the lock: a handler may subscribe or unsubscribe.
    std::vector<std::shared_ptr<Handler>> handlers;
    {
        std::lock_guard lock(mu_);
        auto it = channels_.find(channel);
        if (it == channels_.end()) return;
        for (auto& [token, h] : it->second) handlers.push_back(h);
    }
    for (auto& h : handlers) (*h)(event);
}

}  // namespace natter::localbus
