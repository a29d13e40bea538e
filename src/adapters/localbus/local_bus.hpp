#pragma once
// The in-process bus of the embedded deployment: publish calls every
// subscriber of the user's channel on the publishing thread.
#include <map>
#include <mutex>

#include "ports/bus.hpp"

namespace natter::localbus {

class LocalBus final : public Bus {
public:
    std::unique_ptr<Subscription> subscribe(Channel channel, Handler handler) override;
    void publish(Channel channel, std::shared_ptr<const BusEvent> event) override;

private:
    class Sub;
    void unsubscribe(Channel channel, std::uint64_t token);

    std::mutex mu_;
    std::uint64_t next_token_ = 1;
    std::map<Channel, std::map<std::uint64_t, std::shared_ptr<Handler>>> channels_;
};

}  // namespace natter::localbus
