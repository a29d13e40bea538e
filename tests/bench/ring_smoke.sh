#!/usr/bin/env bash
# `natter-bench ring` on 20,000 users, well under a second: the report parses
# (as JSON and as tables) and says what a consistent-hash ring must.
#  - Every user that moves on a resize moves to the new shard.
#  - Each resize (1->2, 2->3, 3->4 at 256 vnodes) moves 0.75..1.25 times the
#    ideal 1/(n+1). The new shard's share of the circle varies by ~5% at 256
#    vnodes and 20,000 users add ~4% of sampling noise: the band is ~4
#    deviations wide. Hashing modulo n would move n/(n+1), ratio n.
#  - At 256 vnodes no shard holds more than 1.35 times the mean (the worst of
#    100 name sets over the circle is ~1.2, sampling adds ~3% at 16 shards),
#    and 1 vnode per shard is worse than 256 (~2x against ~1.1 on average).
set -euo pipefail
bench=${NATTER_BENCH:?set NATTER_BENCH to the natter-bench binary}
command -v jq >/dev/null || { echo "ring_smoke.sh: needs jq (scripts/deps.sh)" >&2; exit 2; }
args=(ring --users 20000 --max-shards 4 --vnodes 1,16,256)

json=$("$bench" "${args[@]}" --json)
if ! jq -e '
  .ok == true and .users == 20000 and .move_vnodes == 256
  and ([.moves[] | [.from, .to]] == [[1, 2], [2, 3], [3, 4]])
  and all(.moves[]; .moved_elsewhere == 0 and .ratio > 0.75 and .ratio < 1.25
                    and (.moved_share - .ideal * .ratio | fabs) < 1e-9)
  and ([.balance[] | [.vnodes, .shards]] == [[1, 3], [1, 8], [1, 16], [16, 3], [16, 8], [16, 16], [256, 3], [256, 8], [256, 16]])
  and all(.balance[] | select(.vnodes == 256); .max_over_mean < 1.35 and .min_over_mean > 0.65)
  and ([.balance[] | select(.vnodes == 1) | .max_over_mean] | add) > ([.balance[] | select(.vnodes == 256) | .max_over_mean] | add)
  and all(.balance[]; .max_over_mean >= 1 and .min_over_mean <= 1 and .lookup_ns > 0)' <<<"$json" >/dev/null; then
  echo "ring_smoke.sh: the report is not what a consistent-hash ring gives:" >&2
  echo "$json" >&2
  exit 1
fi

table=$("$bench" "${args[@]}")
rows=$(grep -c '^| [0-9] → [0-9] |' <<<"$table" || true)
[[ $rows == 3 ]] || { echo "ring_smoke.sh: expected 3 rows of moves in the table, got $rows:" >&2; echo "$table" >&2; exit 1; }
echo "ring_smoke.sh: OK"
