#pragma once
// The wiring: the one place that names concrete adapters. Builds the store,
// bus, services and server from a Config, for natterd and for tests.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "chat/password_hasher.hpp"
#include "chat/retention.hpp"
#include "core/limits.hpp"

namespace natter {

class Clock;
class MessagingService;
class SessionRegistry;

struct Config {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8080;
    std::string data_dir = "./data";
    std::size_t io_threads = 0;        // 0: one per core
    std::size_t blocking_threads = 8;  // store reads and argon2
    bool sqlite_sync_full = true;
    std::optional<std::uint32_t> node_id;  // default: generated once, kept in the store
    std::string token_key;                 // default: generated once into DATA/token.key
    Limits limits;
    RetentionPolicy retention;
    bool sweeper = true;  // run the retention sweeper every retention.sweep_interval_s
    PasswordCost password_cost;
};

class App {
public:
    // Throws std::runtime_error with a message that says what to fix.
    explicit App(Config config, const Clock* clock = nullptr);
    ~App();
    std::uint16_t start();  // the bound port
    void stop();

    const Config& config() const;
    MessagingService& messaging();
    SweepReport sweep_now();  // one retention sweep, as the background sweeper does it
    SessionRegistry& registry();
    std::size_t connections() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace natter
