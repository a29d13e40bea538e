#!/usr/bin/env bash
# natterd's stores side by side: `natter-bench direct --verify` closed loop
# against natterd on the embedded SQLite store, on one PostgreSQL shard and
# on three (scripts/pg-shards.sh, on this machine), alternating, several
# rounds, each configuration's throughput as a ratio to SQLite's in the same
# round (docs/BENCHMARKS.md, "SQLite and PostgreSQL shards").
#
#   scripts/bench-stores.sh [--rounds R] [--duration S] [--pairs N] [--window W] [--threads N]
#                           [--configs "sqlite pg1 pg3"] [--pg-workers N] [--pg-pool-size N] [--out DIR]
#
# Defaults: 3 rounds, 10 s, 50 pairs, window 16 (as scripts/bench.sh), natterd
# with --threads $(nproc), PostgreSQL store with its defaults (4 workers, 4
# connections per shard) unless --pg-workers / --pg-pool-size. Each run gets
# a fresh data dir (and fresh databases on the shards), seeds 2 x pairs users
# with `natterd admin seed-users` through the same store, starts natterd,
# runs the generator, stops natterd. The data dirs and the PostgreSQL servers
# are on /dev/shm (tmpfs) when it exists: SQLite's fsync (synchronous=full)
# and PostgreSQL's (fsync=off) cost nothing there, so the figures compare the
# stores' work and round trips, not the disk. Binaries: $NATTERD and
# $NATTER_BENCH, else build/natterd and build/natter-bench. Everything it
# starts it stops.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
NATTERD=${NATTERD:-$here/build/natterd}
NATTER_BENCH=${NATTER_BENCH:-$here/build/natter-bench}

rounds=3 duration=10 pairs=50 window=16 threads=$(nproc) configs="sqlite pg1 pg3" out="" pg_workers="" pg_pool=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --rounds) rounds=$2; shift ;;
    --duration) duration=$2; shift ;;
    --pairs) pairs=$2; shift ;;
    --window) window=$2; shift ;;
    --threads) threads=$2; shift ;;
    --configs) configs=$2; shift ;;
    --pg-workers) pg_workers=$2; shift ;;
    --pg-pool-size) pg_pool=$2; shift ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "bench-stores.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
for bin in "$NATTERD" "$NATTER_BENCH"; do
  [[ -x $bin ]] || { echo "bench-stores.sh: $bin is not built (make build, or set NATTERD / NATTER_BENCH)" >&2; exit 2; }
done
for c in $configs; do
  [[ $c == sqlite || $c =~ ^pg[0-9]+$ ]] || { echo "bench-stores.sh: a config is sqlite or pgN (N shards), not $c" >&2; exit 2; }
done
max_shards=0
for c in $configs; do [[ $c =~ ^pg([0-9]+)$ ]] && (( BASH_REMATCH[1] > max_shards )) && max_shards=${BASH_REMATCH[1]}; done

base=/tmp
[[ -d /dev/shm && -w /dev/shm ]] && base=/dev/shm
tmp=$(mktemp -d "$base/natter-bench-stores.XXXXXX")
chmod 755 "$tmp"  # the postgres user reaches its servers' directory through it
export NATTER_PG_SHARDS_DIR=$tmp/pg
pids=()
cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [[ -d $NATTER_PG_SHARDS_DIR ]] && "$here/scripts/pg-shards.sh" down >/dev/null 2>&1 || true
  rm -rf "$tmp"
  exit $rc
}
trap cleanup EXIT
trap 'exit 143' TERM INT

if (( max_shards > 0 )); then
  echo "bench-stores.sh: starting $max_shards PostgreSQL servers in $NATTER_PG_SHARDS_DIR" >&2
  "$here/scripts/pg-shards.sh" up "$max_shards" >/dev/null
fi

# start NAME CMD...: as in scripts/bench.sh; sets $port and $started_pid.
start() {
  local name=$1; shift
  rm -f "$tmp/$name.fifo"
  mkfifo "$tmp/$name.fifo"
  "$@" >"$tmp/$name.fifo" 2>"$tmp/$name.log" &
  started_pid=$!
  pids+=($started_pid)
  local line=""
  exec {fd}<"$tmp/$name.fifo"
  if ! read -r -t 60 -u "$fd" line || [[ $line != *"listening on"* ]]; then
    echo "bench-stores.sh: $name did not report listening within 60 s: '$line'" >&2
    tail -n 20 "$tmp/$name.log" >&2 || true
    exit 1
  fi
  cat <&"$fd" >/dev/null &
  pids+=($!)
  exec {fd}<&-
  port=$(sed -E 's/.*127\.0\.0\.1:([0-9]+).*/\1/' <<<"$line")
}

# store_args CONFIG RUN: the natterd flags of a store, with fresh databases.
store_args() {
  local c=$1 run=$2
  store=()
  if [[ $c == sqlite ]]; then
    store=(--sqlite-synchronous full)
    return
  fi
  local n=${c#pg} line i=0
  store=(--store postgres --node-id 1)
  [[ -n $pg_workers ]] && store+=(--postgres-workers "$pg_workers")
  [[ -n $pg_pool ]] && store+=(--postgres-pool-size "$pg_pool")
  while IFS= read -r line; do
    i=$((i + 1))
    if (( i <= n )); then store+=(--postgres-shard "$line"); fi
  done < <("$here/scripts/pg-shards.sh" db "$run")
}

results=$tmp/results.tsv
: >"$results"
echo "bench-stores.sh: $rounds rounds of [$configs], direct closed loop, $pairs pairs, window $window, ${duration}s, --verify; natterd $threads threads" >&2
for r in $(seq 1 "$rounds"); do
  for c in $configs; do
    run="r${r}_$c"
    store_args "$c" "$run"
    data=$tmp/data-$run
    "$NATTERD" admin seed-users --count $((pairs * 2)) --prefix bench --data "$data" "${store[@]}" \
      >"$tmp/users-$run.jsonl" 2>"$tmp/seed-$run.log" || { cat "$tmp/seed-$run.log" >&2; exit 1; }
    start "natterd-$run" "$NATTERD" --listen 127.0.0.1:0 --data "$data" --threads "$threads" --drain-grace 0 \
      --send-rate 1000000 --send-burst 1000000 --frame-rate 1000000 --frame-burst 1000000 --log-level warn "${store[@]}"
    npid=$started_pid
    if ! "$NATTER_BENCH" direct --users "$tmp/users-$run.jsonl" --target "127.0.0.1:$port" --window "$window" \
        --duration "$duration" --verify --json --no-progress >"$tmp/$run.json"; then
      echo "bench-stores.sh: the $c run failed:" >&2
      cat "$tmp/$run.json" >&2
      tail -n 20 "$tmp/natterd-$run.log" >&2
      exit 1
    fi
    kill -TERM "$npid"
    wait "$npid" 2>/dev/null || true
    jq -r --arg r "$r" --arg c "$c" \
      '[$r, $c, .throughput_msgs_per_s, .latency.p50_ns/1e6, .latency.p99_ns/1e6, (if .verify.ok then "OK" else "FAILED" end), .errors, .sends] | @tsv' \
      "$tmp/$run.json" >>"$results"
    awk -F'\t' 'END { printf "round %s  %-6s %8.0f msgs/s  p50 %7.1f ms  p99 %7.1f ms  verify %s  refused %d of %d sends\n", $1, $2, $3, $4, $5, $6, $7, $8 }' "$results" >&2
    if [[ $(jq .errors "$tmp/$run.json") != 0 ]]; then
      echo "  e.g. $(jq -c '.error_examples[0]' "$tmp/$run.json")" >&2
    fi
  done
done

# The table: per round, each config's msgs/s and its ratio to SQLite's in the
# same round; then the median over rounds of both.
awk -F'\t' -v configs="$configs" '
  { tput[$1, $2] = $3; p50[$1, $2] = $4; p99[$1, $2] = $5; ok[$1, $2] = $6; refused[$1, $2] = $7; if ($1 > rounds) rounds = $1 }
  function median(a, n,   i, j, t) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    n = split(configs, cs, " ")
    printf "| round |"; for (k = 1; k <= n; k++) printf " %s msgs/s (p50 / p99 ms) |", cs[k]
    for (k = 1; k <= n; k++) if (cs[k] != "sqlite") printf " %s / sqlite |", cs[k]
    printf "\n|---|"; for (k = 1; k <= n; k++) printf "---|"; for (k = 1; k <= n; k++) if (cs[k] != "sqlite") printf "---|"
    printf "\n"
    for (r = 1; r <= rounds; r++) {
      printf "| %d |", r
      for (k = 1; k <= n; k++) printf " %.0f (%.1f / %.1f)%s%s |", tput[r, cs[k]], p50[r, cs[k]], p99[r, cs[k]],
                                      (refused[r, cs[k]] > 0 ? sprintf(", %d refused", refused[r, cs[k]]) : ""),
                                      (ok[r, cs[k]] == "OK" ? "" : " verify FAILED")
      for (k = 1; k <= n; k++) if (cs[k] != "sqlite") printf " %.3f |", (tput[r, "sqlite"] > 0 ? tput[r, cs[k]] / tput[r, "sqlite"] : 0)
      printf "\n"
    }
    printf "| median |"
    for (k = 1; k <= n; k++) { for (r = 1; r <= rounds; r++) v[r] = tput[r, cs[k]]; printf " %.0f |", median(v, rounds) }
    for (k = 1; k <= n; k++) if (cs[k] != "sqlite") {
      for (r = 1; r <= rounds; r++) v[r] = (tput[r, "sqlite"] > 0 ? tput[r, cs[k]] / tput[r, "sqlite"] : 0)
      printf " **%.3f** |", median(v, rounds)
    }
    printf "\n"
  }' "$results"

if [[ -n $out ]]; then
  mkdir -p "$out"
  cp "$tmp"/*.json "$results" "$out"/
fi
