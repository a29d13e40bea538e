#!/usr/bin/env bash
# Which shard owns KEY on the ring of SHARD... with VNODES points each:
# natter's HashRing (src/core/hash_ring.hpp) redone with xxhsum (package
# `xxhash`), to show that the placement needs nothing but XXH3_64bits and
# to cross-check the C++ in tests. One xxhsum per point: meant for a look
# by hand, not for bulk.
#
#   scripts/ring-where.sh KEY VNODES SHARD...   e.g.  scripts/ring-where.sh 42 256 pg-1 pg-2 pg-3
# A user's key is the decimal id ("42"), a conversation's its id ("d:17:42").
set -euo pipefail
[[ $# -ge 3 ]] || { sed -n '8,9p' "$0" >&2; exit 2; }
key=$1 vnodes=$2
shift 2
xxh3() { printf %s "$1" | xxhsum -H3 | awk '{print $NF}'; }  # 16 hex digits
at=$(xxh3 "$key")
for shard in "$@"; do
  for ((i = 0; i < vnodes; i++)); do echo "$(xxh3 "$shard#$i") $shard"; done
done | LC_ALL=C sort -k1,1 -k2,2 |
  # The first point at or after the key's position (ties: the lower name,
  # which sort put first), else the lowest point. "" forces string compares;
  # reading to the end keeps sort from dying of SIGPIPE.
  awk -v at="$at" 'NR == 1 { first = $2 } !found && ("" $1) >= ("" at) { owner = $2; found = 1 }
                   END { print found ? owner : first }'
