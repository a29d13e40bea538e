#pragma once
// The Lua scripts of the presence store and the node lease, and how they are
// run: EVALSHA (the SHA-1 computed here), loaded on each commands
// connection as it comes up (SCRIPT LOAD, before any other command on it,
// so order is kept), and on NOSCRIPT (someone ran SCRIPT FLUSH) EVAL again
// with the same arguments. Internal to the Redis adapter.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/redis/connection.hpp"

namespace natter::redis {

struct Script {
    const char* name;
    std::string text;
    std::string sha;  // hex SHA-1 of text
};

namespace scripts {
// presence:{user} holds, per socket, field "h:{holder}" = "{deadline}:{last beat}"
// (ms), and "n" (how many holders), "online" ("1"/"0"), "last_seen",
// "changed_at"; each instance's sorted set presence:deadlines holds
// "{user}|{holder}" by deadline, for expire() to find the holders of a node
// that vanished. Every script that touches a user runs on the user's instance.
const Script& heartbeat();  // KEYS hash, zset; ARGV holder, member, now, ttl, keep -> {1, changed_at} | {0}
const Script& remove();     // KEYS hash, zset; ARGV holder, member, now, keep -> {1, changed_at} | {0}
const Script& refresh();    // KEYS zset, hash...; ARGV now, ttl, keep, (holder, member)... -> 0
const Script& expire();     // KEYS zset; ARGV now, limit, keep -> {found, {user, last_seen, changed_at}...}
const Script& status();     // KEYS hash...; -> {online, last_seen, changed_at}...
// node:{id} = owner token, with a TTL.
const Script& claim();      // KEYS key; ARGV token, ttl_ms -> {1} | {0, holder, pttl}
const Script& release();    // KEYS key; ARGV token -> 1 | 0
const std::vector<const Script*>& all();
}  // namespace scripts

// Runs `script` with `params` (numkeys, keys..., args...); false, and no
// call of `done`, when the connection is not up.
bool run_script(Connection& connection, const Script& script, std::shared_ptr<const std::vector<std::string>> params,
                Connection::Reply done);
// SCRIPT LOAD of every script (call as the connection comes up).
void load_scripts(Connection& connection);

}  // namespace natter::redis
