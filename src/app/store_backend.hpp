#pragma once
// The store natterd runs on, chosen by store.adapter: what the wiring needs
// of it beyond the ports the services take (src/ports/store.hpp). The rest
// of app.cpp does not know which store it is.
//
// - "sqlite": one file in the data directory (src/adapters/sqlite).
// - "postgres": PostgreSQL shards on a ring (src/adapters/postgres,
//   docs/SCALE.md "What lives where"). Opening it connects to every shard and
//   migrates it; a shard that does not answer stops natterd, named.
//
// Readiness (/readyz): SQLite, the file answers a read. PostgreSQL, the store
// started (every shard answered and was migrated then); after that /readyz
// does not follow the shards, because every natterd shares them and one shard
// down must cost only its own users, not take every node out of the load
// balancer at once. Each shard's health is a metric instead
// (natter_store_shard_up), from a probe every few seconds off the scrape path.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "app/config.hpp"
#include "ports/store.hpp"

namespace natter {

// The store's gauges for /metrics.
struct StoreGauges {
    std::size_t inbox_rows = 0;  // rows waiting for an ack, every device (PostgreSQL: every shard that answered)
    // Writes the store owes: SQLite, sends waiting for the writer thread;
    // PostgreSQL, outbox rows (fan-outs committed on a home shard and not yet
    // written to a recipient's shard), every shard that answered.
    std::size_t backlog = 0;
    std::vector<std::pair<std::string, bool>> shards;  // PostgreSQL: each shard, and whether its last probe answered
};

class StoreBackend {
public:
    virtual ~StoreBackend() = default;
    // Valid as long as this object.
    virtual Stores ports() = 0;
    // The node id for message ids: the configured one; SQLite only, when
    // none is configured, one generated once and kept in the store.
    virtual std::uint32_t node_id(std::optional<std::uint32_t> configured) = 0;
    virtual bool ready() = 0;
    virtual StoreGauges gauges() = 0;
};

// Opens config.store_adapter's store. Throws std::runtime_error saying what
// to fix (a shard that does not answer, by name).
std::unique_ptr<StoreBackend> open_store(const Config& config);

}  // namespace natter
