#pragma once
// Retention: what natterd keeps, and for how long (docs/RETENTION.md). The
// sweeper deletes in small batches, each its own short store transaction,
// so sends interleave with a sweep instead of waiting behind it.
#include <cstdint>

#include "ports/clock.hpp"
#include "ports/store.hpp"

namespace natter {

struct RetentionPolicy {
    std::int64_t history_s = 30 * 24 * 3600;  // history after delivery; 0: none beyond delivery
    std::int64_t inbox_s = 30 * 24 * 3600;    // an undelivered inbox row
    std::int64_t sweep_interval_s = 60;
    std::size_t batch = 500;
    // Idempotency keys live as long as history, or as an inbox row when history is 0.
    std::int64_t dedupe_s() const { return history_s > 0 ? history_s : inbox_s; }
};

struct SweepReport {
    std::size_t inbox = 0, history = 0, dedupe = 0, credentials = 0;
    std::size_t media = 0;  // media deleted with their blobs (MediaService::sweep)
    std::size_t deletions = 0;  // account deletions cut short, finished (AccountService::finish_deletions)
};

class RetentionSweeper {
public:
    RetentionSweeper(RetentionStore& store, const Clock& clock, RetentionPolicy policy)
        : store_(store), clock_(clock), policy_(policy) {}
    // Sweeps everything due now, batch by batch.
    SweepReport run_once();

private:
    RetentionStore& store_;
    const Clock& clock_;
    RetentionPolicy policy_;
};

}  // namespace natter
