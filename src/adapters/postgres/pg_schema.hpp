#pragma once
// The schema of a PostgreSQL shard, as numbered migrations. Every shard holds
// every table (rows are placed by the ring, docs/SCALE.md "What lives
// where"); natterd brings each shard to the newest version on start.
#include "adapters/postgres/pg_conn.hpp"

namespace natter::pg {

// The newest schema version this natterd knows.
int schema_version();

// Applies the missing migrations, each in its own transaction, under an
// advisory lock so nodes starting together do not race. Throws pg::Error,
// or std::runtime_error when the shard was migrated by a newer natterd.
void migrate(Connection& conn);

}  // namespace natter::pg
