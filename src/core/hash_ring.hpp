#pragma once
// The consistent-hash ring with virtual nodes that places data on shards: the
// PostgreSQL shards (a user's rows on the user's shard, a conversation's on
// its home shard) and the Redis instances (channel `user:{id}`). No I/O.
//
// The hash is XXH3_64bits with seed 0 (xxHash >= 0.8.0, Debian's
// libxxhash). Why this one:
//  - its output is specified and frozen since 0.8.0, the same on every
//    platform, endianness and version, with ports to many languages;
//    std::hash is not (it differs between standard libraries and
//    may change between releases), so a ring built on it could move every
//    key on a compiler upgrade;
//  - it is fast (~2 ns for a 19-byte key) and well distributed, which the
//    tests and `natter-bench ring` measure;
//  - no secret is needed: keys are ids we made, not attacker-chosen bytes
//    that could be crafted to pile onto one shard.
//
// The ring: each shard gets `vnodes` points on a 64-bit circle, point i of
// shard S at XXH3_64bits(S + "#" + i) (i in decimal, 0-based). A key lives
// on the owner of the first point at or after XXH3_64bits(key), wrapping
// past 2^64 - 1 to the lowest point. Equal points (a 64-bit collision) are
// ordered by shard name, so the mapping depends only on the set of names,
// never on the order they are given in, and renaming a shard moves its keys
// (a shard keeps its name when it moves host). Adding a shard only takes keys from
// the others (each point of the new shard takes the arc before it), so
// about 1/(n+1) of the keys move, all of them to the new shard.
//
// Everything is computable outside natter, e.g. in a shell with xxhsum
// (package `xxhash`; 0.8.1 prints the 64-bit value in hex):
//   printf %s 42 | xxhsum -H3        # user 42's position:  1217cb28c0ef2191
//   printf %s 'pg-1#0' | xxhsum -H3  # point 0 of shard pg-1
// scripts/ring-where.sh is the whole lookup in bash; docs/SCALE.md has the
// measured balance and movement and the choice of the vnode count.
#include "core/ids.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace natter {

class HashRing {
public:
    static constexpr std::size_t kMaxVnodes = 4096;
    // Largest of 3-16 shards ~1.05-1.11x the mean, worst name sets ~1.2x;
    // fixed when a cluster is created (docs/SCALE.md, "The ring").
    static constexpr std::size_t kDefaultVnodes = 256;

    // Throws std::invalid_argument when `shards` is empty, a name is empty or
    // given twice, or `vnodes` is outside 1..kMaxVnodes.
    HashRing(std::vector<std::string> shards, std::size_t vnodes);

    // XXH3_64bits(bytes), seed 0: the position of a key or a point.
    static std::uint64_t hash(std::string_view bytes);

    // The shard that owns `key`, as an index into the names as given.
    std::size_t shard_of(std::string_view key) const { return shard_of_hash(hash(key)); }
    // The same for a key already hashed with hash(): one binary search.
    std::size_t shard_of_hash(std::uint64_t position) const;
    const std::string& name_of(std::string_view key) const { return names_[shard_of(key)]; }

    const std::vector<std::string>& shards() const { return names_; }
    std::size_t vnodes() const { return vnodes_; }

    // The share of the circle each shard owns (indexed like shards(); sums
    // to 1): the load a uniform hash gives it with infinitely many keys.
    std::vector<double> arc_shares() const;

private:
    std::vector<std::string> names_;
    std::size_t vnodes_;
    std::vector<std::uint64_t> points_;  // ascending
    std::vector<std::uint32_t> owner_;   // owner_[i]: the shard of points_[i]
};

// What is hashed to place an entity. Plain text that any language or tool
// can produce, so a script, a migration job or an operator with
// `xxhsum -H3` finds where a key lives without linking natter:
//  - a user (their account, devices, inboxes, receipts): the decimal id,
//    as in JSON and URLs ("42");
//  - a conversation (its messages, seq counter, dedupe keys, outbox): the
//    conversation id as is ("d:17:42", "g:123").
std::string ring_key_user(UserId id);
std::string ring_key_conversation(const std::string& conversation_id);

}  // namespace natter
