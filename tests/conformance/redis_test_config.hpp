#pragma once
// The Redis adapter's settings for tests: one instance per server, named
// r0, r1..., with short reconnect and timeout settings so faults show fast.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "adapters/redis/redis_cluster.hpp"
#include "support/redis_server.hpp"

namespace natter::test {

inline redis::RedisConfig redis_config(const std::vector<std::unique_ptr<RedisServer>>& servers) {
    redis::RedisConfig c;
    for (std::size_t i = 0; i < servers.size(); ++i)
        c.instances.push_back({"r" + std::to_string(i), servers[i]->host(), servers[i]->port()});
    c.reconnect_min = std::chrono::milliseconds(20);
    c.reconnect_max = std::chrono::milliseconds(200);
    c.connect_timeout = std::chrono::milliseconds(500);
    c.command_timeout = std::chrono::milliseconds(500);
    return c;
}

}  // namespace natter::test
