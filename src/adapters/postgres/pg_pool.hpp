#pragma once
// A fixed number of connections to one PostgreSQL server (one shard), opened
// lazily and lent out one caller at a time.
//
// - lease() hands out an idle connection, or opens one while fewer than
//   `size` exist, or waits for one to come back; after `lease_timeout` it
//   throws Error(connection). Opening one adds up to the connect timeout.
// - Thread-safe; a Lease is used by one thread at a time.
// - A connection that comes back broken or still inside a transaction is
//   closed; its slot is reopened by a later lease().
// - An idle connection whose server went away while it sat in the pool (a
//   restart, a shutdown notice, EOF) is noticed without a round trip and
//   replaced. One that died silently (a crash of the host) is not: the first
//   statement on a lease may still throw Error(connection), and is worth one
//   retry on a new lease.
// - When opening a connection fails, the server is taken as down for
//   `down_for`: healthy() is false and lease() throws Error(connection) at once
//   instead of waiting for connect timeouts again; the first lease() after
//   that window tries again.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "adapters/postgres/pg_conn.hpp"
#include "ports/clock.hpp"

namespace natter::pg {

struct PoolOptions {
    std::string conninfo;
    std::string name = "postgres";  // for messages, e.g. "shard 2"
    std::size_t size = 4;
    std::chrono::milliseconds lease_timeout{2'000};
    std::chrono::milliseconds down_for{1'000};
    ConnectOptions connect;
    const Clock* clock = nullptr;  // measures down_for; nullptr: a monotonic clock
};

class Pool {
public:
    explicit Pool(PoolOptions options);
    ~Pool();  // every lease must have come back
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    // One connection, back to the pool when the Lease goes.
    class Lease {
    public:
        Lease(Lease&& other) noexcept = default;
        Lease& operator=(Lease&& other) noexcept;
        ~Lease();
        Connection& operator*() const { return *conn_; }
        Connection* operator->() const { return conn_.get(); }

    private:
        friend class Pool;
        Lease(Pool* pool, std::unique_ptr<Connection> conn) : pool_(pool), conn_(std::move(conn)) {}
        void give_back();
        Pool* pool_ = nullptr;
        std::unique_ptr<Connection> conn_;
    };

    Lease lease();
    // False while the last attempt to connect failed less than down_for ago.
    bool healthy() const;
    // Connections that exist (idle or leased) or are being opened.
    std::size_t open_count() const;
    const PoolOptions& options() const { return options_; }

private:
    void put_back(std::unique_ptr<Connection> conn);
    void give_up_slot();  // with mu_ held
    bool down_locked(std::int64_t now_ms) const;
    std::int64_t now_ms() const;

    PoolOptions options_;
    mutable std::mutex mu_;
    std::condition_variable freed_;
    std::vector<std::unique_ptr<Connection>> idle_;
    std::size_t open_ = 0;
    std::optional<std::int64_t> failed_at_ms_;  // the last failed connect, if the last connect failed
    std::string last_failure_;
};

}  // namespace natter::pg
