#include "adapters/redis/redis_presence.hpp"

#include <charconv>
#include <map>

#include "obs/log.hpp"

namespace natter::redis {

namespace {

constexpr const char* kDeadlines = "presence:deadlines";
constexpr std::size_t kChunk = 500;       // users or holders per script call
constexpr std::size_t kExpireLimit = 1000;  // dead holders per expire call
constexpr int kExpireRounds = 20;          // calls per instance per expire(), at most

std::string key_of(UserId user) { return "presence:" + std::to_string(user); }
std::string member_of(UserId user, const std::string& holder) { return std::to_string(user) + "|" + holder; }

bool is_int(const redisReply* r) { return r && r->type == REDIS_REPLY_INTEGER; }

std::optional<UserId> user_of(const redisReply* r) {
    if (!r || r->type != REDIS_REPLY_STRING) return std::nullopt;
    UserId u = 0;
    auto [end, ec] = std::from_chars(r->str, r->str + r->len, u);
    if (ec != std::errc() || end != r->str + r->len) return std::nullopt;
    return u;
}

}  // namespace

void RedisPresence::heartbeat(UserId user, const std::string& holder, std::int64_t now, std::int64_t ttl_ms, Change done) {
    const auto keep = ttl_ms + core_.config.presence_retention.count();
    auto params = std::make_shared<const std::vector<std::string>>(std::vector<std::string>{
        "2", key_of(user), kDeadlines, holder, member_of(user, holder), std::to_string(now), std::to_string(ttl_ms),
        std::to_string(keep)});
    change(user, true, now, scripts::heartbeat(), std::move(params), std::move(done));
}

void RedisPresence::remove(UserId user, const std::string& holder, std::int64_t now, Change done) {
    auto params = std::make_shared<const std::vector<std::string>>(
        std::vector<std::string>{"2", key_of(user), kDeadlines, holder, member_of(user, holder), std::to_string(now),
                                 std::to_string(core_.config.presence_retention.count())});
    change(user, false, now, scripts::remove(), std::move(params), std::move(done));
}

// heartbeat and remove: {1, changed_at} when this call flipped the user.
void RedisPresence::change(UserId user, bool online, std::int64_t now, const Script& script,
                           std::shared_ptr<const std::vector<std::string>> params, Change done) {
    const auto instance = core_.instance_of(key_of(user));
    core_.on_io([this, user, online, now, instance, &script, params = std::move(params), done = std::move(done)] {
        auto finish = [this, done](std::optional<PresenceStatus> s) { core_.deliver([done, s] { done(s); }); };
        auto parse = [user, online, now, finish](redisReply* r) {
            if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1 || !is_int(r->element[0]) || r->element[0]->integer != 1 ||
                r->elements < 2 || !is_int(r->element[1]))
                return finish(std::nullopt);
            finish(PresenceStatus{user, online, online ? 0 : now, r->element[1]->integer});
        };
        if (!run_script(commands(instance), script, params, parse)) finish(std::nullopt);
    });
}

void RedisPresence::refresh(const std::vector<std::pair<UserId, std::string>>& holders, std::int64_t now,
                            std::int64_t ttl_ms) {
    if (holders.empty()) return;
    // Per instance, chunks of kChunk holders: KEYS zset, hash...; ARGV now, ttl, keep, (holder, member)...
    std::map<std::size_t, std::vector<std::shared_ptr<const std::vector<std::string>>>> calls;
    std::map<std::size_t, std::vector<const std::pair<UserId, std::string>*>> by_instance;
    for (const auto& h : holders) by_instance[core_.instance_of(key_of(h.first))].push_back(&h);
    const auto keep = std::to_string(ttl_ms + core_.config.presence_retention.count());
    for (const auto& [instance, list] : by_instance) {
        for (std::size_t from = 0; from < list.size(); from += kChunk) {
            const auto n = std::min(kChunk, list.size() - from);
            std::vector<std::string> params;
            params.reserve(2 + n * 3 + 3);
            params.push_back(std::to_string(1 + n));
            params.push_back(kDeadlines);
            for (std::size_t i = 0; i < n; ++i) params.push_back(key_of(list[from + i]->first));
            params.insert(params.end(), {std::to_string(now), std::to_string(ttl_ms), keep});
            for (std::size_t i = 0; i < n; ++i) {
                params.push_back(list[from + i]->second);
                params.push_back(member_of(list[from + i]->first, list[from + i]->second));
            }
            calls[instance].push_back(std::make_shared<const std::vector<std::string>>(std::move(params)));
        }
    }
    core_.on_io([this, calls = std::move(calls)] {
        for (const auto& [instance, list] : calls)
            for (const auto& params : list) run_script(commands(instance), scripts::refresh(), params, [](redisReply*) {});
    });
}

// One expire() across the instances: the users each made offline, then `done`.
struct RedisPresence::Expiry {
    std::int64_t now = 0;
    std::size_t waiting = 0;  // instances not finished
    std::vector<PresenceStatus> offline;
    std::function<void(std::vector<PresenceStatus>)> done;
};

void RedisPresence::expire(std::int64_t now, std::function<void(std::vector<PresenceStatus>)> done) {
    auto job = std::make_shared<Expiry>();
    job->now = now;
    job->waiting = core_.instances.size();
    job->done = std::move(done);
    core_.on_io([this, job] {
        for (std::size_t i = 0; i < core_.instances.size(); ++i) expire_round(job, i, 0);
    });
}

void RedisPresence::expire_round(std::shared_ptr<Expiry> job, std::size_t instance, int round) {
    auto finished = [this, job] {
        if (--job->waiting > 0) return;
        core_.deliver([job] { job->done(std::move(job->offline)); });
    };
    auto params = std::make_shared<const std::vector<std::string>>(std::vector<std::string>{
        "1", kDeadlines, std::to_string(job->now), std::to_string(kExpireLimit),
        std::to_string(core_.config.presence_retention.count())});
    auto parse = [this, job, instance, round, finished](redisReply* r) {
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 || !is_int(r->element[0]) ||
            r->element[1]->type != REDIS_REPLY_ARRAY)
            return finished();
        const auto* list = r->element[1];
        for (std::size_t i = 0; i + 2 < list->elements; i += 3) {
            auto user = user_of(list->element[i]);
            if (!user || !is_int(list->element[i + 1]) || !is_int(list->element[i + 2])) continue;
            job->offline.push_back(PresenceStatus{*user, false, list->element[i + 1]->integer, list->element[i + 2]->integer});
        }
        // A full batch: there may be more dead holders.
        if (std::size_t(r->element[0]->integer) >= kExpireLimit && round + 1 < kExpireRounds)
            return expire_round(job, instance, round + 1);
        finished();
    };
    if (!run_script(commands(instance), scripts::expire(), params, parse)) finished();
}

void RedisPresence::status(const std::vector<UserId>& users, std::int64_t now,
                           std::function<void(std::vector<PresenceStatus>)> done) {
    struct Job {
        std::vector<PresenceStatus> out;
        std::size_t waiting = 0;
        std::function<void(std::vector<PresenceStatus>)> done;
    };
    auto job = std::make_shared<Job>();
    job->done = std::move(done);
    job->out.reserve(users.size());
    // Unknown until Redis says otherwise.
    for (UserId u : users) job->out.push_back(PresenceStatus{u, false, 0, 0});
    std::map<std::size_t, std::vector<std::size_t>> by_instance;  // indexes into users
    for (std::size_t i = 0; i < users.size(); ++i) by_instance[core_.instance_of(key_of(users[i]))].push_back(i);
    struct Call {
        std::size_t instance;
        std::vector<std::size_t> indexes;
        std::shared_ptr<const std::vector<std::string>> params;
    };
    auto calls = std::make_shared<std::vector<Call>>();
    for (const auto& [instance, indexes] : by_instance)
        for (std::size_t from = 0; from < indexes.size(); from += kChunk) {
            Call call{instance, {}, nullptr};
            std::vector<std::string> params{"0"};
            for (std::size_t i = from; i < std::min(indexes.size(), from + kChunk); ++i) {
                call.indexes.push_back(indexes[i]);
                params.push_back(key_of(users[indexes[i]]));
            }
            params[0] = std::to_string(call.indexes.size());
            call.params = std::make_shared<const std::vector<std::string>>(std::move(params));
            calls->push_back(std::move(call));
        }
    job->waiting = calls->size();
    if (calls->empty()) return core_.deliver([job] { job->done(std::move(job->out)); });
    core_.on_io([this, job, calls] {
        for (const auto& call : *calls) {
            auto finished = [this, job] {
                if (--job->waiting == 0) core_.deliver([job] { job->done(std::move(job->out)); });
            };
            auto parse = [job, &indexes = call.indexes, calls, finished](redisReply* r) {
                if (r && r->type == REDIS_REPLY_ARRAY && r->elements == indexes.size() * 3) {
                    for (std::size_t k = 0; k < indexes.size(); ++k) {
                        auto* online = r->element[3 * k];
                        auto* last_seen = r->element[3 * k + 1];
                        auto* changed_at = r->element[3 * k + 2];
                        if (!is_int(online) || !is_int(last_seen) || !is_int(changed_at)) continue;
                        auto& s = job->out[indexes[k]];
                        s.online = online->integer == 1;
                        s.last_seen = s.online ? 0 : last_seen->integer;
                        s.changed_at = changed_at->integer;
                    }
                }
                finished();
            };
            if (!run_script(commands(call.instance), scripts::status(), call.params, parse)) finished();
        }
    });
}

void RedisPresence::commands_up(std::size_t instance) {
    load_scripts(commands(instance));
    // Up, or back after a loss (maybe empty, and heartbeats sent while it
    // was away are not there): tell the service, on the delivery thread,
    // after the scripts (queued first on this connection).
    core_.deliver([this] {
        std::function<void()> listener;
        {
            std::lock_guard lock(listener_mu_);
            listener = reset_listener_;
        }
        if (listener) listener();
    });
}

void RedisPresence::on_reset(std::function<void()> listener) {
    std::lock_guard lock(listener_mu_);
    reset_listener_ = std::move(listener);
}

}  // namespace natter::redis
