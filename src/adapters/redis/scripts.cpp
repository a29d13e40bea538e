#include "adapters/redis/scripts.hpp"

#include <openssl/evp.h>

#include "core/crypto.hpp"
#include "obs/log.hpp"

namespace natter::redis {

namespace {

std::string sha1_hex(std::string_view text) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha1(), nullptr);
    return hex(std::string_view(reinterpret_cast<const char*>(digest), size));
}

Script make(const char* name, std::string text) {
    auto sha = sha1_hex(text);
    return Script{name, std::move(text), std::move(sha)};
}

// Shared by the scripts that flip a user's status: changed_at strictly
// increases per user even when two flips share a millisecond. User ids stay
// strings in Lua (its numbers are doubles: not every 64-bit id fits).
constexpr const char* kFlip = R"(
local function flip(key, online, now, last_seen, keep)
  local changed = math.max(now, tonumber(redis.call('HGET', key, 'changed_at') or '0') + 1)
  if online then
    redis.call('HSET', key, 'online', '1', 'changed_at', string.format('%d', changed))
  else
    redis.call('HSET', key, 'online', '0', 'last_seen', string.format('%d', last_seen), 'changed_at', string.format('%d', changed))
  end
  redis.call('PEXPIRE', key, keep)
  return changed
end
)";

}  // namespace

namespace scripts {

const Script& heartbeat() {
    static const Script s = make("heartbeat", std::string(kFlip) + R"(
local key, zset = KEYS[1], KEYS[2]
local now, ttl, keep = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local deadline = string.format('%d', now + ttl)
if redis.call('HSET', key, 'h:' .. ARGV[1], deadline .. ':' .. ARGV[3]) == 1 then
  redis.call('HINCRBY', key, 'n', 1)
end
redis.call('ZADD', zset, deadline, ARGV[2])
redis.call('PEXPIRE', key, keep)
if redis.call('HGET', key, 'online') == '1' then return {0} end
return {1, flip(key, true, now, 0, keep)}
)");
    return s;
}

const Script& remove() {
    static const Script s = make("remove", std::string(kFlip) + R"(
local key, zset = KEYS[1], KEYS[2]
local now = tonumber(ARGV[3])
redis.call('ZREM', zset, ARGV[2])
if redis.call('HDEL', key, 'h:' .. ARGV[1]) == 0 then return {0} end
local n = redis.call('HINCRBY', key, 'n', -1)
if n > 0 then return {0} end
if n < 0 then redis.call('HSET', key, 'n', '0') end
if redis.call('HGET', key, 'online') ~= '1' then return {0} end
return {1, flip(key, false, now, now, ARGV[4])}
)");
    return s;
}

const Script& refresh() {
    static const Script s = make("refresh", R"(
local zset = KEYS[1]
local now, ttl, keep = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local deadline = string.format('%d', now + ttl)
local value = deadline .. ':' .. ARGV[1]
for i = 2, #KEYS do
  local field = 'h:' .. ARGV[2 + 2 * (i - 1)]
  -- Only holders still there: a removed or expired socket is not brought back.
  if redis.call('HEXISTS', KEYS[i], field) == 1 then
    redis.call('HSET', KEYS[i], field, value)
    redis.call('ZADD', zset, deadline, ARGV[3 + 2 * (i - 1)])
    redis.call('PEXPIRE', KEYS[i], keep)
  end
end
return 0
)");
    return s;
}

// Touches the hashes named by the sorted set's members, which KEYS cannot
// list in advance: fine on standalone instances (not on Redis Cluster).
const Script& expire() {
    static const Script s = make("expire", std::string(kFlip) + R"(
local zset = KEYS[1]
local now, keep = tonumber(ARGV[1]), ARGV[3]
local dead = redis.call('ZRANGEBYSCORE', zset, '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local last, order = {}, {}
for _, member in ipairs(dead) do
  redis.call('ZREM', zset, member)
  local bar = string.find(member, '|', 1, true)
  if bar then
    local user = string.sub(member, 1, bar - 1)
    local key = 'presence:' .. user
    local field = 'h:' .. string.sub(member, bar + 1)
    local v = redis.call('HGET', key, field)
    local colon = v and string.find(v, ':', 1, true)
    if colon then
      local deadline, beat = tonumber(string.sub(v, 1, colon - 1)), tonumber(string.sub(v, colon + 1))
      if deadline and deadline > now then
        redis.call('ZADD', zset, string.format('%d', deadline), member)
      else
        redis.call('HDEL', key, field)
        redis.call('HINCRBY', key, 'n', -1)
        beat = beat or 0
        if last[user] == nil then
          order[#order + 1] = user
          last[user] = beat
        elseif beat > last[user] then
          last[user] = beat
        end
      end
    end
  end
end
local out = {}
for _, user in ipairs(order) do
  local key = 'presence:' .. user
  if tonumber(redis.call('HGET', key, 'n') or '0') <= 0 then
    redis.call('HSET', key, 'n', '0')
    if redis.call('HGET', key, 'online') == '1' then
      out[#out + 1] = user
      out[#out + 1] = last[user]
      out[#out + 1] = flip(key, false, now, last[user], keep)
    end
  end
end
return {#dead, out}
)");
    return s;
}

const Script& status() {
    static const Script s = make("status", R"(
local out = {}
for _, key in ipairs(KEYS) do
  local v = redis.call('HMGET', key, 'online', 'last_seen', 'changed_at')
  out[#out + 1] = (v[1] == '1') and 1 or 0
  out[#out + 1] = tonumber(v[2] or '0') or 0
  out[#out + 1] = tonumber(v[3] or '0') or 0
end
return out
)");
    return s;
}

const Script& claim() {
    static const Script s = make("claim", R"(
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1} end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1}
end
return {0, redis.call('GET', KEYS[1]) or '', redis.call('PTTL', KEYS[1])}
)");
    return s;
}

const Script& release() {
    static const Script s = make("release", R"(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
)");
    return s;
}

const std::vector<const Script*>& all() {
    static const std::vector<const Script*> list = {&heartbeat(), &remove(), &refresh(), &expire(),
                                                    &status(),    &claim(),  &release()};
    return list;
}

}  // namespace scripts

bool run_script(Connection& connection, const Script& script, std::shared_ptr<const std::vector<std::string>> params,
                Connection::Reply done) {
    std::vector<std::string_view> argv{"EVALSHA", script.sha};
    for (const auto& p : *params) argv.push_back(p);
    return connection.command(argv, [&connection, &script, params, done](redisReply* r) {
        const bool unknown = r && r->type == REDIS_REPLY_ERROR && std::string_view(r->str, r->len).starts_with("NOSCRIPT");
        if (!unknown) return done(r);
        std::vector<std::string_view> again{"EVAL", script.text};
        for (const auto& p : *params) again.push_back(p);
        if (!connection.command(again, done)) done(nullptr);
    });
}

void load_scripts(Connection& connection) {
    for (const Script* s : scripts::all())
        connection.command({"SCRIPT", "LOAD", s->text}, [&connection, s](redisReply* r) {
            if (r && r->type == REDIS_REPLY_ERROR)
                log_event(LogLevel::error, "redis.script_load_failed",
                          {{"instance", connection.settings().instance}, {"script", s->name},
                           {"error", std::string(r->str, r->len)}});
        });
}

}  // namespace natter::redis
