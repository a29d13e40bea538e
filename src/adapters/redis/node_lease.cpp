// RedisCluster::claim_node and NodeLease: `node:{id}` = owner token, with a
// TTL, refreshed every ttl/3 on the I/O thread.
#include <future>
#include <stdexcept>

#include <boost/asio/steady_timer.hpp>

#include "adapters/redis/cluster_core.hpp"
#include "adapters/redis/scripts.hpp"
#include "obs/log.hpp"

namespace natter::redis {

struct NodeLease::State {
    RedisCluster::Core* core = nullptr;
    std::string node_id, key, token;
    std::chrono::milliseconds ttl{0};
    std::function<void()> on_lost;
    std::size_t instance = 0;
    std::atomic<bool> held{true};
    std::unique_ptr<boost::asio::steady_timer> timer;  // I/O thread
    bool released = false;                            // I/O thread

    std::shared_ptr<const std::vector<std::string>> claim_params() const {
        return std::make_shared<const std::vector<std::string>>(
            std::vector<std::string>{"1", key, token, std::to_string(ttl.count())});
    }
    const RedisInstance& where() const { return core->instances[instance].where; }
    Connection& commands() const { return *core->instances[instance].commands; }
};

namespace {

using State = NodeLease::State;

// What a claim's reply says: empty when the key is ours, else why not.
std::string claim_refused(const State& s, const redisReply* r) {
    const auto at = "Redis instance \"" + s.where().name + "\" (" + s.where().host + ":" + std::to_string(s.where().port) + ")";
    if (!r) return at + " did not answer the claim of " + s.key;
    if (r->type == REDIS_REPLY_ERROR) return at + " refused the claim of " + s.key + ": " + std::string(r->str, r->len);
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->element[0]->type != REDIS_REPLY_INTEGER)
        return at + " gave an unexpected answer to the claim of " + s.key;
    if (r->element[0]->integer == 1) return {};
    std::string holder = r->elements > 1 && r->element[1]->type == REDIS_REPLY_STRING
                             ? std::string(r->element[1]->str, r->element[1]->len) : "?";
    long long left = r->elements > 2 && r->element[2]->type == REDIS_REPLY_INTEGER ? r->element[2]->integer : -1;
    return "node_id " + s.node_id + " is in use: " + s.key + " on " + at + " is held by owner \"" + holder +
           "\" for another " + std::to_string(left) +
           " ms. Another natterd with this node_id is running (or stopped less than a lease ago): give each node its own node_id";
}

void schedule_refresh(const std::shared_ptr<State>& s) {
    if (s->released) return;
    s->timer->expires_after(std::max(s->ttl / 3, std::chrono::milliseconds(1)));
    s->timer->async_wait([s](boost::system::error_code ec) {
        if (ec || s->released) return;
        // The claim again: extends it while it is ours, takes it back if the
        // instance lost it; the connection logs when it cannot reach Redis.
        bool sent = run_script(s->commands(), scripts::claim(), s->claim_params(), [s](redisReply* r) {
            if (s->released) return;
            if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 && r->element[0]->type == REDIS_REPLY_INTEGER &&
                r->element[0]->integer == 0) {
                s->held = false;
                s->released = true;
                log_event(LogLevel::error, "redis.node_lease_lost", {{"node_id", s->node_id}, {"reason", claim_refused(*s, r)}});
                if (s->on_lost) s->core->deliver([s] { s->on_lost(); });
                return;
            }
            schedule_refresh(s);
        });
        if (!sent) schedule_refresh(s);
    });
}

}  // namespace

NodeLease::NodeLease(std::shared_ptr<State> state) : state_(std::move(state)) {}

bool NodeLease::held() const { return state_->held.load(); }

NodeLease::~NodeLease() {
    auto done = std::make_shared<std::promise<void>>();
    auto finished = done->get_future();
    state_->core->on_io([s = state_, done] {
        const bool was_held = !s->released;
        s->released = true;
        s->timer.reset();  // cancels the refresh
        if (!was_held || !run_script(s->commands(), scripts::release(), s->claim_params(), [done](redisReply*) { done->set_value(); }))
            done->set_value();
    });
    finished.wait_for(std::chrono::seconds(1));
}

std::unique_ptr<NodeLease> RedisCluster::claim_node(const std::string& node_id, const std::string& owner_token,
                                                    std::chrono::milliseconds ttl, std::function<void()> on_lost,
                                                    std::chrono::milliseconds wait) {
    if (node_id.empty() || owner_token.empty() || ttl.count() <= 0)
        throw std::invalid_argument("claim_node: node_id and owner_token must not be empty, ttl must be > 0");
    auto s = std::make_shared<State>();
    s->core = core_.get();
    s->node_id = node_id;
    s->key = "node:" + node_id;
    s->token = owner_token;
    s->ttl = ttl;
    s->on_lost = std::move(on_lost);
    s->instance = core_->instance_of(s->key);
    s->timer = std::make_unique<boost::asio::steady_timer>(core_->io);
    const auto until = std::chrono::steady_clock::now() + wait;
    {
        // The instance may still be connecting (at start-up it usually is).
        std::unique_lock lock(core_->state_mu);
        core_->state_cv.wait_until(lock, until, [&] { return s->commands().is_up(); });
    }
    auto answer = std::make_shared<std::promise<std::string>>();
    auto result = answer->get_future();
    core_->on_io([s, answer] {
        bool sent = run_script(s->commands(), scripts::claim(), s->claim_params(), [s, answer](redisReply* r) {
            auto why = claim_refused(*s, r);
            if (why.empty()) schedule_refresh(s);
            answer->set_value(why);
        });
        if (!sent)
            answer->set_value("Redis instance \"" + s->where().name + "\" (" + s->where().host + ":" +
                              std::to_string(s->where().port) + ") is not connected: cannot claim " + s->key);
    });
    std::string why = "Redis did not answer the claim of " + s->key + " in time";
    if (result.wait_until(until) == std::future_status::ready) why = result.get();
    if (!why.empty()) {
        // A late answer that made it ours must not keep refreshing.
        core_->on_io([s] {
            s->released = true;
            s->timer.reset();
            run_script(s->commands(), scripts::release(), s->claim_params(), [](redisReply*) {});
        });
        throw std::runtime_error(why);
    }
    log_event(LogLevel::info, "redis.node_lease_claimed", {{"node_id", node_id}, {"instance", s->where().name}});
    return std::unique_ptr<NodeLease>(new NodeLease(std::move(s)));
}

}  // namespace natter::redis
