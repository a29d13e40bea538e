#include "adapters/postgres/pg_pool.hpp"

namespace natter::pg {

namespace {

class SteadyClock final : public Clock {
public:
    std::int64_t now_ms() const override {
        using namespace std::chrono;
        return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
    }
};

const SteadyClock kSteady;

}  // namespace

Pool::Pool(PoolOptions options) : options_(std::move(options)) {
    if (options_.size == 0) options_.size = 1;
    if (!options_.clock) options_.clock = &kSteady;
}

Pool::~Pool() = default;

std::int64_t Pool::now_ms() const { return options_.clock->now_ms(); }

bool Pool::down_locked(std::int64_t now) const {
    return failed_at_ms_ && now - *failed_at_ms_ < options_.down_for.count();
}

bool Pool::healthy() const {
    std::lock_guard lock(mu_);
    return !down_locked(now_ms());
}

std::size_t Pool::open_count() const {
    std::lock_guard lock(mu_);
    return open_;
}

Pool::Lease Pool::lease() {
    const auto deadline = std::chrono::steady_clock::now() + options_.lease_timeout;
    std::unique_lock lock(mu_);
    for (;;) {
        if (!freed_.wait_until(lock, deadline, [&] { return !idle_.empty() || open_ < options_.size; }))
            throw Error(ErrorKind::connection, "",
                        options_.name + ": no free connection within " + std::to_string(options_.lease_timeout.count()) + " ms");
        if (idle_.empty()) break;
        auto conn = std::move(idle_.back());
        idle_.pop_back();
        if (conn->check_alive()) return Lease(this, std::move(conn));
        --open_;  // it died in the pool: its slot opens a new one
    }

    // A free slot and no idle connection: open one, outside the lock.
    if (down_locked(now_ms()))
        throw Error(ErrorKind::connection, "",
                    options_.name + " is down (a connect failed " + std::to_string(now_ms() - *failed_at_ms_) +
                        " ms ago: " + last_failure_ + ")");
    ++open_;
    lock.unlock();
    try {
        auto conn = std::make_unique<Connection>(options_.conninfo, options_.connect);
        lock.lock();
        failed_at_ms_.reset();
        return Lease(this, std::move(conn));
    } catch (const Error& e) {
        if (!lock.owns_lock()) lock.lock();
        failed_at_ms_ = now_ms();
        last_failure_ = e.message;
        give_up_slot();
        throw;
    } catch (...) {
        if (!lock.owns_lock()) lock.lock();
        give_up_slot();
        throw;
    }
}

void Pool::give_up_slot() {
    --open_;
    freed_.notify_one();
}

void Pool::put_back(std::unique_ptr<Connection> conn) {
    // Broken, or left inside a transaction (its locks held): close it.
    const bool keep = conn->idle();
    std::unique_ptr<Connection> closing;
    {
        std::lock_guard lock(mu_);
        if (keep) {
            idle_.push_back(std::move(conn));
        } else {
            --open_;
            closing = std::move(conn);
        }
    }
    freed_.notify_one();
}

Pool::Lease& Pool::Lease::operator=(Lease&& other) noexcept {
    if (this != &other) {
        give_back();
        pool_ = other.pool_;
        conn_ = std::move(other.conn_);
    }
    return *this;
}

Pool::Lease::~Lease() { give_back(); }

void Pool::Lease::give_back() {
    if (conn_) pool_->put_back(std::move(conn_));
}

}  // namespace natter::pg
