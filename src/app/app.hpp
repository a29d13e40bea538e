#pragma once
// The wiring: the one place that names concrete adapters. Builds the store,
// bus, services and server from a Config, for natterd and for tests.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "app/config.hpp"
#include "chat/retention.hpp"

namespace natter {

class Clock;
class MessagingService;
class SessionRegistry;

class App {
public:
    // Throws std::runtime_error with a message that says what to fix.
    explicit App(Config config, const Clock* clock = nullptr);
    ~App();
    std::uint16_t start();  // the bound port
    void stop();
    // SIGTERM: not ready for `grace`, then stop (sockets close with 1012,
    // accepted sends are committed).
    void drain(std::chrono::seconds grace);

    const Config& config() const;
    MessagingService& messaging();
    SweepReport sweep_now();
    // Writes `seed.count` users with one device each; one JSON line per user
    // ({username, user_id, device_id, access_token}) to `out`. Throws on a
    // username already taken.
    void seed_users(const SeedUsers& seed, std::ostream& out);  // one retention sweep, as the background sweeper does it
    SessionRegistry& registry();
    std::size_t connections() const;
    // Cluster mode: another natterd took this node's node_id lease (it stops).
    bool lease_lost() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace natter
