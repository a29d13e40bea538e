#include "chat/retention.hpp"

namespace natter {

namespace {
// Calls `step` until a batch comes back short; the total removed.
template <class Step>
std::size_t drain(Step step, std::size_t batch) {
    std::size_t total = 0;
    for (;;) {
        std::size_t n = step(batch);
        total += n;
        if (n < batch) return total;
    }
}
}  // namespace

SweepReport RetentionSweeper::run_once() {
    const std::int64_t now = clock_.now_ms();
    const std::size_t b = policy_.batch;
    SweepReport r;
    // Inbox rows first: history is only deleted once no inbox row needs it.
    r.inbox = drain([&](std::size_t n) { return store_.expire_inbox(now - policy_.inbox_s * 1000, n); }, b);
    r.history = drain([&](std::size_t n) { return store_.expire_history(now - policy_.history_s * 1000, n); }, b);
    r.dedupe = drain([&](std::size_t n) { return store_.expire_dedupe(now - policy_.dedupe_s() * 1000, n); }, b);
    r.credentials = drain([&](std::size_t n) { return store_.expire_credentials(now, n); }, b);
    return r;
}

}  // namespace natter
