#include "app/store_backend.hpp"

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "adapters/postgres/pg_conn.hpp"
#include "adapters/postgres/pg_store.hpp"
#include "adapters/sqlite/sqlite_store.hpp"
#include "core/crypto.hpp"
#include "core/ids.hpp"
#include "obs/log.hpp"

namespace natter {

namespace {

class SqliteBackend final : public StoreBackend {
public:
    explicit SqliteBackend(const Config& c)
        : store_(sqlite::SqliteConfig{(std::filesystem::path(c.data_dir) / "natter.db").string(), c.sqlite_sync_full, 4,
                                      1024, c.limits.max_pending_writes}) {}

    Stores ports() override { return store_.ports(); }

    std::uint32_t node_id(std::optional<std::uint32_t> configured) override {
        if (configured) {
            if (*configured > IdGenerator::kMaxNode) throw std::runtime_error("node_id must be 0..1023");
            return *configured;
        }
        auto stored = store_.meta("node_id");
        if (!stored.empty()) return std::uint32_t(std::stoul(stored));
        auto bytes = random_bytes(2);
        std::uint32_t id = ((std::uint8_t(bytes[0]) << 8) | std::uint8_t(bytes[1])) & IdGenerator::kMaxNode;
        store_.set_meta("node_id", std::to_string(id));
        return id;
    }

    bool ready() override { return store_.ping(); }

    StoreGauges gauges() override { return StoreGauges{store_.inbox_rows(), store_.queue_depth(), {}}; }

private:
    sqlite::SqliteStore store_;
};

// The sharded store, and a probe of its shards on a connection of its own
// per shard (not the store's pools: a scrape never waits for a send, nor a
// send for a scrape).
class PostgresBackend final : public StoreBackend {
public:
    static constexpr std::chrono::seconds kProbeEvery{5};

    explicit PostgresBackend(const Config& c) {
        // Each shard is asked first, so that one that does not answer is
        // named (libpq names only host and port).
        for (const auto& s : c.postgres.shards) {
            auto& p = probes_.emplace_back(Probe{s.name, s.conninfo, nullptr, false, 0, 0});
            try {
                p.conn = std::make_unique<pg::Connection>(p.conninfo, probe_options());
            } catch (const pg::Error& e) {
                throw std::runtime_error("PostgreSQL shard \"" + s.name + "\" (postgres.shards) does not answer: " +
                                         e.message + "; natterd starts only when every shard answers");
            }
        }
        pg::PgStoreConfig pc;
        for (const auto& s : c.postgres.shards) pc.shards.push_back(pg::ShardConfig{s.name, s.conninfo});
        pc.vnodes = c.postgres.vnodes;
        pc.pool_size = c.postgres.pool_size;
        pc.workers = c.postgres.workers;
        pc.max_queue = c.limits.max_pending_writes;
        try {
            store_ = std::make_unique<pg::PgStore>(std::move(pc));  // connects to every shard and migrates it
        } catch (const pg::Error& e) {
            throw std::runtime_error("the PostgreSQL store did not start (connecting to or migrating a shard of "
                                     "postgres.shards): " + e.message);
        } catch (const std::runtime_error& e) {
            throw std::runtime_error(std::string("the PostgreSQL store did not start: ") + e.what());
        }
        log_event(LogLevel::info, "store.postgres_ready",
                  {{"shards", c.postgres.shards.size()}, {"vnodes", c.postgres.vnodes}});
        probe_all();
        prober_ = std::thread([this] {
            std::unique_lock lock(stop_mu_);
            while (!stop_cv_.wait_for(lock, kProbeEvery, [this] { return stopping_; })) {
                lock.unlock();
                probe_all();
                lock.lock();
            }
        });
    }

    ~PostgresBackend() override {
        {
            std::lock_guard lock(stop_mu_);
            stopping_ = true;
        }
        stop_cv_.notify_all();
        if (prober_.joinable()) prober_.join();
        store_.reset();  // runs the sends and acks it accepted first
    }

    Stores ports() override { return store_->ports(); }

    std::uint32_t node_id(std::optional<std::uint32_t> configured) override {
        // check_config refuses a postgres store without one: several nodes
        // share the shards, and there is no file of this node's to keep one in.
        if (!configured || *configured > IdGenerator::kMaxNode)
            throw std::runtime_error("server.node_id must be set (0..1023) when store.adapter is \"postgres\"");
        return *configured;
    }

    bool ready() override { return true; }  // see store_backend.hpp: shards are a metric

    StoreGauges gauges() override {
        StoreGauges g;
        std::lock_guard lock(probe_mu_);
        for (const auto& p : probes_) {
            g.shards.emplace_back(p.name, p.up);
            if (!p.up) continue;
            g.inbox_rows += p.inbox_rows;
            g.backlog += p.outbox_rows;
        }
        return g;
    }

private:
    struct Probe {
        std::string name, conninfo;
        std::unique_ptr<pg::Connection> conn;  // the prober's alone
        bool up;                               // these three under probe_mu_
        std::size_t inbox_rows, outbox_rows;
    };

    static pg::ConnectOptions probe_options() {
        pg::ConnectOptions o;
        o.statement_timeout = std::chrono::milliseconds(2'000);
        o.answer_grace = std::chrono::milliseconds(1'000);
        o.connect_timeout_s = 2;  // libpq's minimum; a conninfo's own connect_timeout wins
        o.application_name = "natter-probe";
        return o;
    }

    // One round trip per shard: its inbox and outbox rows.
    void probe_all() {
        for (auto& p : probes_) {
            bool up = false;
            std::size_t inbox = 0, outbox = 0;
            std::string why;
            try {
                if (!p.conn || p.conn->broken()) {
                    p.conn.reset();
                    p.conn = std::make_unique<pg::Connection>(p.conninfo, probe_options());
                }
                // The statistics' row estimates, not count(*): the inbox is the
                // biggest table, and this runs every few seconds forever.
                auto r = p.conn->exec("SELECT relname, n_live_tup FROM pg_stat_user_tables "
                                      "WHERE relname IN ('inbox', 'outbox')");
                for (int i = 0; i < r.size(); ++i)
                    (r.text(i, 0) == "inbox" ? inbox : outbox) = std::size_t(std::max<std::int64_t>(0, r.i64(i, 1)));
                up = true;
            } catch (const pg::Error& e) {
                why = e.message;
                if (p.conn && p.conn->broken()) p.conn.reset();
            }
            bool was;
            {
                std::lock_guard lock(probe_mu_);
                was = p.up;
                p.up = up;
                p.inbox_rows = inbox;
                p.outbox_rows = outbox;
            }
            if (!up && (was || !probed_once_))
                log_event(LogLevel::warn, "store.shard_down", {{"shard", p.name}, {"error", why}});
            else if (!was && up && probed_once_)
                log_event(LogLevel::info, "store.shard_up", {{"shard", p.name}});
        }
        probed_once_ = true;
    }

    std::vector<Probe> probes_;
    std::mutex probe_mu_;
    bool probed_once_ = false;  // the prober's
    std::unique_ptr<pg::PgStore> store_;
    std::mutex stop_mu_;
    std::condition_variable stop_cv_;
    bool stopping_ = false;
    std::thread prober_;
};

}  // namespace

std::unique_ptr<StoreBackend> open_store(const Config& config) {
    if (config.store_adapter == "postgres") return std::make_unique<PostgresBackend>(config);
    if (config.store_adapter == "sqlite") return std::make_unique<SqliteBackend>(config);
    throw std::runtime_error("store.adapter must be \"sqlite\" or \"postgres\" (got \"" + config.store_adapter + "\")");
}

}  // namespace natter
