#pragma once
// GET /metrics: the Prometheus text exposition of natterd's counters, read
// from each layer's own statistics at scrape time.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "chat/media.hpp"
#include "chat/messaging.hpp"

namespace natter {

// The Redis bus and presence (cluster mode).
struct RedisGauges {
    std::size_t instances = 0, connected = 0;
    std::uint64_t publishes = 0, dropped_publishes = 0, reconnects = 0, resyncs = 0, malformed = 0;
};

struct MetricsInputs {
    std::size_t connections = 0;
    std::uint64_t frames_in = 0, frames_out = 0, http_requests = 0;
    const MessagingStats* messaging = nullptr;
    std::size_t inbox_rows = 0;
    std::size_t outbox_backlog = 0;  // the store's writes owed (StoreGauges::backlog)
    std::uint64_t presence_changes = 0;  // online/offline announcements
    std::uint64_t typing_relayed = 0;    // typing notices, one per user told
    std::size_t watched_users = 0;       // users whose presence this node's sockets watch
    const MediaService::Stats* media = nullptr;
    std::vector<std::pair<std::string, bool>> shards;  // PostgreSQL: each shard, up or not
    std::optional<RedisGauges> redis;
    std::uint64_t refused_per_address = 0;  // connections closed at accept: limits.max_connections_per_address
};

std::string render_metrics(const MetricsInputs& in);

}  // namespace natter
