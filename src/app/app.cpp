#include "app/app.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

#include "obs/log.hpp"

#include "adapters/localblobs/local_blobs.hpp"
#include "adapters/localbus/local_bus.hpp"
#include "adapters/localpresence/local_presence.hpp"
#include "adapters/redis/redis_cluster.hpp"
#include "adapters/s3/s3_blobs.hpp"
#include "chat/account_deletion.hpp"
#include "chat/accounts.hpp"
#include "app/metrics.hpp"
#include "app/store_backend.hpp"
#include "chat/groups.hpp"
#include "chat/history.hpp"
#include "chat/media.hpp"
#include "chat/messaging.hpp"
#include "chat/presence.hpp"
#include "chat/token_signer.hpp"
#include "core/crypto.hpp"
#include "core/text.hpp"
#include "sessions/session_registry.hpp"
#include "transport/http_api.hpp"
#include "transport/server.hpp"
#include "transport/static_files.hpp"

namespace natter {

namespace fs = std::filesystem;

namespace {

std::string load_or_create_key(const fs::path& file) {
    if (fs::exists(file)) {
        std::ifstream in(file);
        std::string key;
        std::getline(in, key);
        if (key.size() < 32) throw std::runtime_error(file.string() + " holds a key shorter than 32 bytes: delete it to make a new one");
        return key;
    }
    std::string key = base64url(random_bytes(48)) + "\n";
    // Created 0600 from the start: never readable by others, not even briefly.
    int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || ::write(fd, key.data(), key.size()) != ssize_t(key.size()) || ::close(fd) != 0)
        throw std::runtime_error("cannot write " + file.string() + ": check the data directory's permissions");
    key.pop_back();
    return key;
}

// The shared key of a cluster: the first line of a file every node reads.
std::string read_key_file(const std::string& file) {
    std::ifstream in(file);
    std::string key;
    if (!in || !std::getline(in, key))
        throw std::runtime_error("auth.token_key_file " + file + " cannot be read: create it (48 random bytes, "
                                 "base64url) and give every node the same file");
    while (!key.empty() && (key.back() == '\r' || key.back() == ' ')) key.pop_back();
    if (key.size() < 32) throw std::runtime_error("auth.token_key_file " + file + " holds a key shorter than 32 bytes");
    return key;
}

}  // namespace

struct App::Impl {
    explicit Impl(Config c, const Clock* injected) : config(std::move(c)) {
        clock = injected ? injected : &system_clock;
        if (auto problem = check_config(config); !problem.empty()) throw std::runtime_error(problem);
        std::error_code ec;
        if (fs::create_directories(config.data_dir, ec))
            fs::permissions(config.data_dir, fs::perms::owner_all, ec);  // a new data dir is the owner's alone
        if (ec || !fs::is_directory(config.data_dir))
            throw std::runtime_error("cannot create data directory " + config.data_dir + ": " +
                                     (ec ? ec.message() : "not a directory"));
        // The data dir holds the SQLite file, and with either store the token
        // key (unless configured) and the local blobs.
        make_bus_and_presence();
        store = open_store(config);
        auto node = store->node_id(config.node_id);
        ids = std::make_unique<IdGenerator>(node);
        auto key = !config.token_key.empty()      ? config.token_key
                   : !config.token_key_file.empty() ? read_key_file(config.token_key_file)
                                                    : load_or_create_key(fs::path(config.data_dir) / "token.key");
        if (key.size() < 32) throw std::runtime_error("token_key must be at least 32 bytes");
        signer = std::make_unique<TokenSigner>(key);
        make_blobs(key);
        hasher = std::make_unique<PasswordHasher>(config.password_cost);
        // Two pools: HTTP work (argon2, account writes) must not hold up the
        // inbox reads that connected devices wait on, and the other way round.
        pool = std::make_unique<BlockingPool>(std::max<std::size_t>(1, config.blocking_threads));
        inbox_pool = std::make_unique<BlockingPool>(std::max<std::size_t>(2, config.blocking_threads / 2));
        auto blocking = [p = pool.get()](std::function<void()> fn) { p->post(std::move(fn)); };
        auto inbox_blocking = [p = inbox_pool.get()](std::function<void()> fn) { p->post(std::move(fn)); };
        accounts = std::make_unique<AccountService>(store->ports(), *bus, *hasher, *signer, *ids, *clock, config.limits);
        messaging = std::make_unique<MessagingService>(store->ports(), *bus, *ids, *clock, config.limits, inbox_blocking);
        registry = std::make_unique<SessionRegistry>(*bus);
        history = std::make_unique<HistoryService>(store->ports());
        HttpApi::Operations ops;
        ops.ready = [this] { return !draining.load() && !lease_lost.load() && store->ready(); };
        ops.metrics = [this] {
            auto st = server->stats();
            auto gauges = store->gauges();
            MetricsInputs in{server->connections(), st.frames_in, st.frames_out, st.http_requests,
                             &messaging->stats(), gauges.inbox_rows, gauges.backlog,
                             presence->announced(), presence->typing_relayed(), registry->watched_users(),
                             &media->stats(), std::move(gauges.shards), std::nullopt};
            in.refused_per_address = st.refused_per_address;
            if (redis) {
                auto r = redis->stats();
                in.redis = RedisGauges{r.instances, r.connected_instances, r.publishes, r.dropped_publishes,
                                       r.reconnects, r.resyncs, r.malformed_events};
            }
            return render_metrics(in);
        };
        presence_store->on_reset([this] {
            {
                std::lock_guard lock(sweeper_mu);
                presence_reset = true;
            }
            sweeper_cv.notify_all();
        });
        presence = std::make_unique<PresenceService>(*presence_store, store->ports(), *bus, *clock, config.limits,
                                                     inbox_blocking, std::to_string(node) + "-" + base64url(random_bytes(6)));
        auto media_policy = config.media;
        media_policy.allowed = media_types(config.media_allowed);
        media_policy.upload_burst = media_policy.uploads_per_min;  // a minute's worth at once
        media = std::make_unique<MediaService>(store->ports(), *blobs, *ids, *clock, media_policy);
        messaging->set_media(media.get());
        groups = std::make_unique<GroupService>(store->ports(), *messaging, *ids, *clock, config.limits);
        deletion = std::make_unique<AccountDeletion>(*accounts, groups.get(), media.get());
        api = std::make_unique<HttpApi>(*accounts, *history, groups.get(), std::move(ops), media.get(), deletion.get());
        sweeper = std::make_unique<RetentionSweeper>(*store->ports().retention, *clock, config.retention);
        web = std::make_unique<StaticFiles>(config.web_root);
        std::size_t threads = config.io_threads ? config.io_threads : std::max(1u, std::thread::hardware_concurrency());
        ServerConfig server_config;
        server_config.host = config.host;
        server_config.port = config.port;
        server_config.io_threads = threads;
        server_config.tls_cert_file = config.tls.cert_file;
        server_config.tls_key_file = config.tls.key_file;
        server_config.tls_handshake_timeout = std::chrono::milliseconds(config.tls.handshake_timeout_ms);
        {
            std::istringstream list(config.allowed_origins);
            for (std::string origin; std::getline(list, origin, ',');) {
                origin.erase(0, origin.find_first_not_of(' '));
                origin.erase(origin.find_last_not_of(' ') + 1);
                if (!origin.empty()) server_config.allowed_origins.push_back(origin);
            }
        }
        // check_config has checked both lists.
        if (auto p = parse_prefixes(config.trusted_proxies)) server_config.addresses.trusted_proxies = std::move(*p);
        if (auto p = parse_prefixes(config.limits.per_address_exempt)) server_config.addresses.exempt = std::move(*p);
        server = std::make_unique<Server>(std::move(server_config),
                                          ServerDeps{*api, *accounts, *messaging, *registry, config.limits, *clock, blocking,
                                                     presence.get(), blob_endpoint, web.get()});
        // Last: nothing after it may throw while the check runs.
        if (s3_blobs) check_s3_blobs();
    }

    // The bus and presence: in this process, or on Redis (cluster mode).
    // In cluster mode the node also takes a lease on its node_id in Redis,
    // so a second natterd with the same id (message ids would collide) is
    // refused. The lease's owner token lives in the data directory: the
    // same node restarted (after a crash, its lease still running) takes it
    // back at once.
    void make_bus_and_presence() {
        if (config.bus_adapter == "redis" || config.presence_adapter == "redis") {
            redis::RedisConfig rc;
            for (const auto& i : config.redis.instances) rc.instances.push_back({i.name, i.host, i.port});
            rc.password = config.redis.password;
            // A new channel's SUBSCRIBE is not waited for: the caller may be an
            // I/O thread holding the session registry. Its handlers get a
            // resync once Redis confirms it (one more inbox read per user
            // connecting to this node), rather than stall every connect on
            // the node behind a slow Redis.
            rc.subscribe_wait = std::chrono::milliseconds(0);
            redis = std::make_unique<redis::RedisCluster>(std::move(rc));
            if (redis->wait_connected(std::chrono::seconds(5)))
                log_event(LogLevel::info, "redis.connected", {{"instances", config.redis.instances.size()}});
            else
                log_event(LogLevel::warn, "redis.not_all_connected",
                          {{"instances", config.redis.instances.size()},
                           {"hint", "natterd keeps retrying; live pushes and presence through a missing instance wait for it"}});
        }
        if (config.bus_adapter == "redis") {
            bus = &redis->bus();
            auto token = load_or_create_key(fs::path(config.data_dir) / "node.owner");
            lease = redis->claim_node(std::to_string(*config.node_id), token, std::chrono::seconds(10), [this] {
                // Two nodes with one id can mint the same message id: this
                // one stops at once (no grace: SIGINT), and exits with 2.
                log_event(LogLevel::error, "node.lease_lost",
                          {{"node_id", *config.node_id},
                           {"hint", "another natterd runs with this server.node_id: this node stops; give each node its own id"}});
                lease_lost = true;
                ::kill(::getpid(), SIGINT);
            });
        } else {
            local_bus = std::make_unique<localbus::LocalBus>();
            bus = local_bus.get();
        }
        if (config.presence_adapter == "redis") {
            presence_store = &redis->presence();
        } else {
            local_presence = std::make_unique<localpresence::LocalPresence>();
            presence_store = local_presence.get();
        }
    }

    // The local store (natterd serves /v1/blobs) or an S3 bucket (natterd
    // serves no blobs: clients talk to the bucket).
    void make_blobs(const std::string& token_key) {
        if (config.blobs_adapter == "s3") {
            // natterd's own S3 calls are signed with the real time (S3 refuses
            // a skewed clock), whatever clock the service runs on.
            auto s3 = std::make_unique<s3::S3Blobs>(s3::S3BlobsConfig{.bucket = s3_bucket(config.s3),
                                                                     .credentials = s3_credentials(config.s3),
                                                                     .no_overwrite = config.s3.no_overwrite,
                                                                     .ca_file = config.s3.ca_file});
            s3_blobs = s3.get();
            blobs = std::move(s3);
            return;
        }
        // Blob URLs are signed with a key of their own, derived from the
        // token key: any node can check any node's URLs.
        auto local = std::make_unique<localblobs::LocalBlobs>(localblobs::LocalBlobsConfig{
            (fs::path(config.data_dir) / "blobs").string(), hmac_sha256(token_key, "natter blob urls"),
            config.blobs_public_url});
        blob_endpoint = local.get();
        blobs = std::move(local);
    }

    // An unreachable bucket does not stop natterd (text chat works without
    // it, and the store may come up later): it is logged, off the start-up
    // path, and each media call that needs the bucket fails with
    // `unavailable` until it answers.
    void check_s3_blobs() {
        pool->post([s3 = s3_blobs, endpoint = config.s3.endpoint, bucket = config.s3.bucket] {
            auto why = s3->check_reachable();
            if (why.empty())
                log_event(LogLevel::info, "blobs.s3_ready", {{"endpoint", endpoint}, {"bucket", bucket}});
            else
                log_event(LogLevel::warn, "blobs.s3_unreachable",
                          {{"endpoint", endpoint}, {"bucket", bucket}, {"error", why}});
        });
    }

    // The node's presence heartbeat: refreshes its sockets' TTLs and sweeps
    // the ones that ran out, three times per TTL.
    void start_presence() {
        presence_thread = std::thread([this] {
            auto period = std::chrono::milliseconds(std::max<std::int64_t>(100, config.limits.presence_ttl_ms / 3));
            std::unique_lock lock(sweeper_mu);
            while (!sweeper_stop) {
                bool again = std::exchange(presence_reset, false);
                lock.unlock();
                try {
                    presence->tick(registry->holders(), again);
                } catch (const std::exception& e) {
                    log_event(LogLevel::error, "presence.tick_failed", {{"error", e.what()}});
                }
                lock.lock();
                sweeper_cv.wait_for(lock, period, [this] { return sweeper_stop || presence_reset; });
            }
        });
    }

    // Deletions cut short, retention, then the media they (or time) left
    // unused, with their blobs.
    SweepReport sweep() {
        auto deletions = accounts->finish_deletions();
        auto r = sweeper->run_once();
        r.deletions = deletions;
        r.media = media->sweep();
        return r;
    }

    void start_sweeper() {
        if (!config.sweeper || sweeper_thread.joinable()) return;
        sweeper_thread = std::thread([this] {
            std::unique_lock lock(sweeper_mu);
            while (!sweeper_stop) {
                lock.unlock();
                try {
                    auto r = sweep();
                    if (r.inbox || r.history || r.dedupe || r.media || r.deletions)
                        log_event(LogLevel::info, "retention.swept",
                                  {{"inbox_rows", r.inbox}, {"messages", r.history}, {"idempotency_keys", r.dedupe},
                                   {"media", r.media}, {"account_deletions", r.deletions}});
                } catch (const std::exception& e) {
                    log_event(LogLevel::error, "retention.failed", {{"error", e.what()}});
                }
                lock.lock();
                sweeper_cv.wait_for(lock, std::chrono::seconds(config.retention.sweep_interval_s), [this] { return sweeper_stop; });
            }
        });
    }

    void stop_sweeper() {
        {
            std::lock_guard lock(sweeper_mu);
            sweeper_stop = true;
        }
        sweeper_cv.notify_all();
        if (sweeper_thread.joinable()) sweeper_thread.join();
        if (presence_thread.joinable()) presence_thread.join();
    }

    ~Impl() {
        stop_sweeper();
        // Stop the I/O threads, then finish the work they started (the pool,
        // then the store's writer, whose callbacks touch sessions), and only
        // then destroy the sockets with the io_context they belong to.
        server->stop();
        pool->join();
        inbox_pool->join();
        // The store goes before the service that listens for its late
        // deliveries: unhook it first (what the store still delivers now
        // is in the inboxes for the next connect).
        messaging->detach_from_store();
        store.reset();
        server.reset();
        // Redis last of the running parts, but before the services its
        // outstanding presence callbacks point into: first what holds
        // subscriptions and the lease.
        registry.reset();
        lease.reset();
        redis.reset();
    }

    Config config;
    SystemClock system_clock;
    const Clock* clock;
    // Before everything that uses them: destroyed after.
    std::unique_ptr<redis::RedisCluster> redis;
    std::unique_ptr<redis::NodeLease> lease;
    std::atomic<bool> lease_lost{false};
    std::unique_ptr<localbus::LocalBus> local_bus;
    Bus* bus = nullptr;
    std::unique_ptr<localpresence::LocalPresence> local_presence;
    PresenceStore* presence_store = nullptr;
    std::unique_ptr<StoreBackend> store;
    std::unique_ptr<IdGenerator> ids;
    std::unique_ptr<TokenSigner> signer;
    std::unique_ptr<PasswordHasher> hasher;
    std::unique_ptr<BlockingPool> pool;        // HTTP requests and WebSocket handshakes
    std::unique_ptr<BlockingPool> inbox_pool;  // sessions' inbox reads and credential checks
    std::unique_ptr<AccountService> accounts;
    std::unique_ptr<MessagingService> messaging;
    std::unique_ptr<SessionRegistry> registry;
    std::atomic<bool> draining{false};
    std::unique_ptr<HistoryService> history;
    std::unique_ptr<GroupService> groups;
    std::unique_ptr<AccountDeletion> deletion;
    std::unique_ptr<BlobStore> blobs;
    std::unique_ptr<StaticFiles> web;
    BlobEndpoint* blob_endpoint = nullptr;  // the local store: natterd serves /v1/blobs
    s3::S3Blobs* s3_blobs = nullptr;        // the S3 store
    std::unique_ptr<MediaService> media;
    std::unique_ptr<HttpApi> api;
    std::unique_ptr<RetentionSweeper> sweeper;
    std::thread sweeper_thread;
    std::thread presence_thread;
    std::unique_ptr<PresenceService> presence;
    std::mutex sweeper_mu;
    std::condition_variable sweeper_cv;
    bool sweeper_stop = false;
    bool presence_reset = false;  // the presence store may have lost holders: heartbeat them all
    std::unique_ptr<Server> server;
};

App::App(Config config, const Clock* clock) : impl_(std::make_unique<Impl>(std::move(config), clock)) {}
App::~App() = default;
std::uint16_t App::start() {
    auto port = impl_->server->start();
    impl_->start_sweeper();
    if (!impl_->presence_thread.joinable()) impl_->start_presence();
    return port;
}
void App::stop() {
    impl_->stop_sweeper();
    impl_->server->stop();
}
void App::drain(std::chrono::seconds grace) {
    impl_->draining = true;  // /readyz says 503 from now on
    // The grace period is for the load balancer to notice; an operator's
    // second signal or a short grace ends it early.
    if (grace.count() > 0) {
        std::unique_lock lock(impl_->sweeper_mu);
        impl_->sweeper_cv.wait_for(lock, grace, [this] { return impl_->sweeper_stop; });
    }
    stop();
}
SweepReport App::sweep_now() { return impl_->sweep(); }

void App::seed_users(const SeedUsers& seed, std::ostream& out) {
    auto& i = *impl_;
    // One hash of a random password for all: nobody can sign in as these users
    // with a password, and argon2 runs once instead of `count` times.
    auto hash = i.hasher->hash(base64url(random_bytes(24)));
    for (std::size_t n = 0; n < seed.count; ++n) {
        auto now = i.clock->now_ms();
        UserRecord u;
        u.user_id = i.ids->next(now);
        u.username = seed.prefix + std::to_string(n);
        u.password_hash = hash;
        u.display_name = u.username;
        u.created_at = now;
        if (!is_username(u.username)) throw std::runtime_error("\"" + u.username + "\" is not a valid username: change --prefix");
        auto r = i.store->ports().users->create_user(u);
        if (!r) throw std::runtime_error(u.username + ": " + r.error().message);
        auto d = i.store->ports().devices->open_device(u.user_id, std::nullopt, i.ids->next(now), "seeded", now, config().limits.max_devices);
        if (!d) throw std::runtime_error(u.username + ": " + d.error().message);
        auto now_s = now / 1000;
        auto token = i.signer->sign(AccessClaims{u.user_id, d->device_id, d->generation, now_s + seed.token_ttl_s}, now_s);
        out << nlohmann::json{{"username", u.username}, {"user_id", id_string(u.user_id)},
                              {"device_id", id_string(d->device_id)}, {"access_token", token}}
                   .dump()
            << '\n';
    }
    out.flush();
}
const Config& App::config() const { return impl_->config; }
MessagingService& App::messaging() { return *impl_->messaging; }
SessionRegistry& App::registry() { return *impl_->registry; }
std::size_t App::connections() const { return impl_->server->connections(); }
bool App::lease_lost() const { return impl_->lease_lost.load(); }

}  // namespace natter
