#!/usr/bin/env bash
# The cluster (scripts/cluster.sh: three natterd, two PostgreSQL shards, two
# Redis, HAProxy) against one embedded natterd: `natter-bench direct
# --verify` closed loop against each, alternating, several rounds, the
# cluster's throughput as a ratio to the embedded one's in the same round
# (docs/BENCHMARKS.md, "The cluster (`make cluster`) against embedded").
#
#   scripts/bench-cluster.sh [--rounds R] [--duration S] [--pairs N] [--window W]
#                            [--configs "embedded pg-1node cluster"] [--out DIR]
#
# Each round runs, in this order:
#   embedded  one natterd on SQLite (--sqlite-synchronous full) and the local bus
#   pg-1node  one natterd on the cluster's two PostgreSQL shards (fresh databases)
#             and the local bus: the store's cost without the cluster's
#   cluster   the three nodes through HAProxy (Redis bus and presence)
# Defaults: 3 rounds, 10 s, 50 pairs, window 16 (as scripts/bench-stores.sh);
# every natterd with its default threads (one per core) and PostgreSQL pool.
# The cluster is started once (`scripts/cluster.sh up --dir`, with the rate
# limits lifted through CLUSTER_EXTRA_TOML) and stopped at the end; each
# round seeds 2 x pairs new users into it (`scripts/cluster.sh seed-users`).
# embedded and pg-1node get a fresh data dir each run (pg-1node fresh
# databases too), users seeded with `natterd admin seed-users`, the rate
# limits lifted (as scripts/bench.sh). Everything on /dev/shm when it exists.
# During each run's window it samples CPU (/proc: this script's processes
# by kind, and the machine's total, so also what other processes took) and,
# for the cluster, Redis's INFO (PUBLISH and all commands per second).
# It prints a line per run and the tables; `--out DIR` keeps the JSON
# reports and the raw figures. Binaries: $NATTERD and $NATTER_BENCH, else
# build/natterd and build/natter-bench. Everything it starts it stops.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
NATTERD=${NATTERD:-$here/build/natterd}
NATTER_BENCH=${NATTER_BENCH:-$here/build/natter-bench}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
export NATTERD NATTER_BENCH PG_BIN

rounds=3 duration=10 pairs=50 window=16 configs="embedded pg-1node cluster" out=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --rounds) rounds=$2; shift ;;
    --duration) duration=$2; shift ;;
    --pairs) pairs=$2; shift ;;
    --window) window=$2; shift ;;
    --configs) configs=$2; shift ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "bench-cluster.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
for bin in "$NATTERD" "$NATTER_BENCH"; do
  [[ -x $bin ]] || { echo "bench-cluster.sh: $bin is not built (make build, or set NATTERD / NATTER_BENCH)" >&2; exit 2; }
done
for c in $configs; do
  [[ $c == embedded || $c == pg-1node || $c == cluster ]] \
    || { echo "bench-cluster.sh: a config is embedded, pg-1node or cluster, not $c" >&2; exit 2; }
done
[[ " $configs " == *" embedded "* ]] || { echo "bench-cluster.sh: --configs needs embedded (the ratios' base)" >&2; exit 2; }
(( duration >= 5 )) || { echo "bench-cluster.sh: --duration 5 or more (the CPU sample skips the first 2 s)" >&2; exit 2; }
need_cluster=0
[[ " $configs " == *" pg-1node "* || " $configs " == *" cluster "* ]] && need_cluster=1

base=/tmp
[[ -d /dev/shm && -w /dev/shm ]] && base=/dev/shm
tmp=$(mktemp -d "$base/natter-bench-cluster.XXXXXX")
chmod 755 "$tmp"  # the postgres user reaches the cluster's shards through it
cdir=$tmp/cluster
pids=()
cleanup() {
  local rc=$?
  # A second Ctrl-C must not cut the teardown short (cluster.sh down
  # inherits the ignored signals): it would leave the cluster running.
  trap '' INT TERM HUP
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -e $cdir ]]; then
    echo "bench-cluster.sh: stopping the cluster" >&2
    "$here/scripts/cluster.sh" down --dir "$cdir" >>"$tmp/cluster-down.log" 2>&1 \
      || { echo "bench-cluster.sh: cluster.sh down failed:" >&2; tail -n 20 "$tmp/cluster-down.log" >&2; }
  fi
  rm -rf "$tmp"
  exit $rc
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

as_pg() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if (( need_cluster )); then
  echo "bench-cluster.sh: starting the cluster in $cdir (scripts/cluster.sh up)" >&2
  # The nodes' own rate limits lifted, as natterd's flags do for the others.
  if ! CLUSTER_EXTRA_TOML=$'[limits]\nsend_rate = 1000000\nsend_burst = 1000000\nframe_rate = 1000000\nframe_burst = 1000000' \
      "$here/scripts/cluster.sh" up --dir "$cdir" >"$tmp/cluster-up.log" 2>&1; then
    echo "bench-cluster.sh: scripts/cluster.sh up failed:" >&2
    tail -n 30 "$tmp/cluster-up.log" >&2
    exit 1
  fi
  # shellcheck disable=SC1091
  source "$cdir/cluster.env"  # HAPROXY_PORT, PG1_PORT, PG2_PORT, REDIS1_PORT, REDIS2_PORT
  grep -q '^send_rate = 1000000$' "$cdir/node1.toml" \
    || { echo "bench-cluster.sh: scripts/cluster.sh did not take CLUSTER_EXTRA_TOML (an older one?)" >&2; exit 1; }
fi

# start NAME CMD...: as in scripts/bench-stores.sh; sets $port and $started_pid.
start() {
  local name=$1; shift
  rm -f "$tmp/$name.fifo"
  mkfifo "$tmp/$name.fifo"
  "$@" >"$tmp/$name.fifo" 2>"$tmp/$name.log" &
  started_pid=$!
  pids+=("$started_pid")
  local line=""
  exec {fd}<"$tmp/$name.fifo"
  if ! read -r -t 60 -u "$fd" line || [[ $line != *"listening on"* ]]; then
    echo "bench-cluster.sh: $name did not report listening within 60 s: '$line'" >&2
    tail -n 20 "$tmp/$name.log" >&2 || true
    exit 1
  fi
  cat <&"$fd" >/dev/null &
  pids+=("$!")
  exec {fd}<&-
  port=$(sed -E 's/.*127\.0\.0\.1:([0-9]+).*/\1/' <<<"$line")
}

# ---------------------------------------------------------------- CPU and Redis samples

# snap FILE: the machine's CPU ticks ("machine BUSY STEAL ALL", busy
# without idle, iowait and steal; ALL: every state, the clock of the sample;
# read before and after the processes, averaged) and every process's
# ("PID PPID COMM TICKS").
snap() {
  { head -n 1 /proc/stat; cat /proc/[0-9]*/stat 2>/dev/null || true; head -n 1 /proc/stat; } | awk '
    $1 == "cpu" { n++; busy += $2 + $3 + $4 + $7 + $8; steal += $9; all += $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; next }
    match($0, /\(.*\) /) {
      comm = substr($0, RSTART + 1, RLENGTH - 3); gsub(/[^A-Za-z0-9_.-]/, "_", comm)
      split(substr($0, RSTART + RLENGTH), f, " ")
      print $1, f[2], comm, f[12] + f[13]
    }
    END { printf "machine %.1f %.1f %.1f\n", busy / n, steal / n, all / n }' >"$1"
}

# redis_snap FILE: per Redis of the cluster, "redis-N PUBLISH_CALLS ALL_COMMANDS INSTANTANEOUS_OPS".
redis_snap() {
  local i p
  : >"$1"
  for i in 1 2; do
    p=REDIS${i}_PORT
    timeout 3 redis-cli -h 127.0.0.1 -p "${!p}" info all 2>/dev/null | tr -d '\r' | awk -v n="redis-$i" -F'[:,=]' '
      $1 == "cmdstat_publish" { pub = $3 } $1 == "total_commands_processed" { all = $2 }
      $1 == "instantaneous_ops_per_sec" { inst = $2 }
      END { print n, pub + 0, all + 0, inst + 0 }' >>"$1"
  done
}

# sample RUN: two snapshots inside the measured window (2 s after the
# generator starts, and 1 s before the window ends), for cpu_figures.
sample() {
  local run=$1
  sleep 2
  snap "$tmp/cpu-$run.a"
  [[ -n ${HAPROXY_PORT:-} ]] && redis_snap "$tmp/redis-$run.a"
  sleep $((duration - 3))
  snap "$tmp/cpu-$run.b"
  [[ -n ${HAPROXY_PORT:-} ]] && redis_snap "$tmp/redis-$run.b"
  return 0
}

# cpu_figures RUN ROOT_PID...: tab-separated, % of one core over the sample:
# machine busy, steal, then this script's processes by kind (a root pid and
# its descendants: natterd, postgres, redis, haproxy, s3rver, generator), the
# rest of the machine ("not ours": other users of the box), then Redis's
# PUBLISH/s and commands/s (both instances; 0 when not sampled).
cpu_figures() {
  local run=$1; shift
  local hz; hz=$(getconf CLK_TCK)
  awk -v hz="$hz" -v ncores="$(nproc)" -v roots="$*" -v rfa="$tmp/redis-$run.a" -v rfb="$tmp/redis-$run.b" '
    FNR == 1 { file++ }
    $1 == "machine" { busy[file] = $2; steal[file] = $3; all[file] = $4; next }
    file == 1 { t0[$1] = $4; comm0[$1] = $3; next }
    { t1[$1] = $4; ppid[$1] = $2; comm[$1] = $3 }
    END {
      secs = (all[2] - all[1]) / hz / ncores  # from the same reads as the ticks
      n = split(roots, r, " "); for (i = 1; i <= n; i++) ours[r[i]] = 1
      do { grew = 0; for (p in ppid) if (!(p in ours) && (ppid[p] in ours)) { ours[p] = 1; grew = 1 } } while (grew)
      for (p in ours) {
        if (!(p in t1)) continue
        d = t1[p] - ((p in t0 && comm0[p] == comm[p]) ? t0[p] : 0)
        c = comm[p]
        k = c == "natterd" ? "natterd" : c == "postgres" ? "postgres" : c ~ /^redis/ ? "redis" : c == "haproxy" ? "haproxy" \
          : c == "node" ? "s3rver" : c == "natter-bench" ? "generator" : "other"
        kind[k] += d; mine += d
      }
      pct = 100 / hz / secs
      while ((getline line < rfa) > 0) { split(line, f, " "); pa[f[1]] = f[2]; aa[f[1]] = f[3] }
      while ((getline line < rfb) > 0) { split(line, f, " "); pub += f[2] - pa[f[1]]; cmds += f[3] - aa[f[1]] }
      printf "%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\n",
        (busy[2] - busy[1]) * pct, (steal[2] - steal[1]) * pct,
        kind["natterd"] * pct, kind["postgres"] * pct, kind["redis"] * pct, kind["haproxy"] * pct,
        kind["s3rver"] * pct, kind["generator"] * pct, (busy[2] - busy[1] - mine) * pct, pub / secs, cmds / secs
    }' "$tmp/cpu-$run.a" "$tmp/cpu-$run.b"
}

cluster_pids() {
  [[ -d $cdir/run ]] || return 0
  cat "$cdir"/run/*.pid 2>/dev/null || true
}

# ---------------------------------------------------------------- runs

results=$tmp/results.tsv
: >"$results"
echo "bench-cluster.sh: $rounds rounds of [$configs], direct closed loop, $pairs pairs, window $window, ${duration}s, --verify" >&2
for r in $(seq 1 "$rounds"); do
  for c in $configs; do
    run="r${r}_$c"
    data=$tmp/data-$run
    npid=""
    case $c in
      embedded|pg-1node)
        store=(--sqlite-synchronous full)
        if [[ $c == pg-1node ]]; then
          # Fresh databases on the cluster's two shards, named as the nodes name them.
          db=bench_r$r
          as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG1_PORT" -U postgres "$db"
          as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG2_PORT" -U postgres "$db"
          store=(--store postgres --node-id 1
                 --postgres-shard "pg-1=host=127.0.0.1 port=$PG1_PORT dbname=$db user=postgres"
                 --postgres-shard "pg-2=host=127.0.0.1 port=$PG2_PORT dbname=$db user=postgres")
        fi
        "$NATTERD" admin seed-users --count $((pairs * 2)) --prefix bench --data "$data" "${store[@]}" \
          >"$tmp/users-$run.jsonl" 2>"$tmp/seed-$run.log" || { cat "$tmp/seed-$run.log" >&2; exit 1; }
        start "natterd-$run" "$NATTERD" --listen 127.0.0.1:0 --data "$data" --drain-grace 0 \
          --send-rate 1000000 --send-burst 1000000 --frame-rate 1000000 --frame-burst 1000000 --log-level warn "${store[@]}"
        npid=$started_pid
        target=127.0.0.1:$port
        ;;
      cluster)
        "$here/scripts/cluster.sh" seed-users --dir "$cdir" $((pairs * 2)) "r${r}u" \
          >"$tmp/users-$run.jsonl" 2>"$tmp/seed-$run.log" || { cat "$tmp/seed-$run.log" >&2; exit 1; }
        target=127.0.0.1:$HAPROXY_PORT
        ;;
    esac
    "$NATTER_BENCH" direct --users "$tmp/users-$run.jsonl" --target "$target" --window "$window" \
      --duration "$duration" --verify --json --no-progress >"$tmp/$run.json" &
    bpid=$!
    pids+=("$bpid")
    sample "$run" &
    spid=$!
    pids+=("$spid")
    if ! wait "$bpid"; then
      echo "bench-cluster.sh: the $c run failed:" >&2
      cat "$tmp/$run.json" >&2
      if [[ -n $npid ]]; then tail -n 20 "$tmp/natterd-$run.log" >&2; else tail -n 5 "$cdir"/logs/node*.log >&2; fi
      exit 1
    fi
    wait "$spid" || true
    # shellcheck disable=SC2046
    cpu=$(cpu_figures "$run" $npid $bpid $(cluster_pids))
    if [[ -n $npid ]]; then
      kill -TERM "$npid"
      wait "$npid" 2>/dev/null || true
    fi
    printf '%s\t%s\t%s\n' "$r" "$c" "$(jq -r \
      '[.throughput_msgs_per_s, .latency.p50_ns/1e6, .latency.p99_ns/1e6, (if .verify.ok then "OK" else "FAILED" end), .errors, .sends] | @tsv' \
      "$tmp/$run.json")" | paste - <(echo "$cpu") >>"$results"
    awk -F'\t' 'END {
      printf "round %s  %-8s %8.0f msgs/s  p50 %7.1f ms  p99 %7.1f ms  verify %s  refused %d of %d sends\n", $1, $2, $3, $4, $5, $6, $7, $8
      printf "    cpu, %% of one core (2 cores = 200): machine %s (steal %s): natterd %s, postgres %s, redis %s, haproxy %s, s3rver %s, generator %s; not ours %s",
        $9, $10, $11, $12, $13, $14, $15, $16, $17
      if ($18 > 0) printf "; redis: %s PUBLISH/s, %s commands/s", $18, $19
      printf "\n" }' "$results" >&2
    if [[ $(jq .errors "$tmp/$run.json") != 0 ]]; then
      echo "  e.g. $(jq -c '.error_examples[0]' "$tmp/$run.json")" >&2
    fi
  done
done

# The tables: per round, each config's msgs/s and its ratio to embedded's
# in the same round (and cluster / pg-1node); the medians over rounds; then
# the CPU and Redis samples' medians per config.
awk -F'\t' -v configs="$configs" '
  { tput[$1, $2] = $3; p50[$1, $2] = $4; p99[$1, $2] = $5; ok[$1, $2] = $6; refused[$1, $2] = $7; if ($1 > rounds) rounds = $1
    for (i = 9; i <= 19; i++) cpu[$1, $2, i] = $i }
  function median(a, n,   i, j, t) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  function ratio(r, a, b) { return tput[r, b] > 0 ? tput[r, a] / tput[r, b] : 0 }
  END {
    n = split(configs, cs, " ")
    m = 0
    for (k = 1; k <= n; k++) if (cs[k] != "embedded") { m++; ra[m] = cs[k]; rb[m] = "embedded" }
    if ((" " configs " ") ~ / pg-1node / && (" " configs " ") ~ / cluster /) { m++; ra[m] = "cluster"; rb[m] = "pg-1node" }
    printf "| round |"; for (k = 1; k <= n; k++) printf " %s msgs/s (p50 / p99 ms) |", cs[k]
    for (j = 1; j <= m; j++) printf " %s / %s |", ra[j], rb[j]
    printf "\n|---|"; for (k = 1; k <= n + m; k++) printf "---|"
    printf "\n"
    for (r = 1; r <= rounds; r++) {
      printf "| %d |", r
      for (k = 1; k <= n; k++) printf " %.0f (%.1f / %.1f)%s%s |", tput[r, cs[k]], p50[r, cs[k]], p99[r, cs[k]],
                                      (refused[r, cs[k]] > 0 ? sprintf(", %d refused", refused[r, cs[k]]) : ""),
                                      (ok[r, cs[k]] == "OK" ? "" : " verify FAILED")
      for (j = 1; j <= m; j++) printf " %.3f |", ratio(r, ra[j], rb[j])
      printf "\n"
    }
    printf "| median |"
    for (k = 1; k <= n; k++) {
      for (r = 1; r <= rounds; r++) v[r] = tput[r, cs[k]]; t = median(v, rounds)
      for (r = 1; r <= rounds; r++) v[r] = p50[r, cs[k]]; a = median(v, rounds)
      for (r = 1; r <= rounds; r++) v[r] = p99[r, cs[k]]; b = median(v, rounds)
      printf " %.0f (%.1f / %.1f) |", t, a, b
    }
    for (j = 1; j <= m; j++) { for (r = 1; r <= rounds; r++) v[r] = ratio(r, ra[j], rb[j]); printf " **%.3f** |", median(v, rounds) }
    printf "\n\nCPU during the window, %% of one core (the machine has %d: %d = all), medians over rounds:\n\n", ncores, ncores * 100
    printf "| config | machine busy | steal | natterd | postgres | redis | haproxy | s3rver | generator | not ours | Redis PUBLISH/s | Redis commands/s |\n"
    printf "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    for (k = 1; k <= n; k++) {
      printf "| %s |", cs[k]
      for (i = 9; i <= 19; i++) { for (r = 1; r <= rounds; r++) v[r] = cpu[r, cs[k], i]; printf " %.0f |", median(v, rounds) }
      printf "\n"
    }
  }' ncores="$(nproc)" "$results"

if [[ -n $out ]]; then
  mkdir -p "$out"
  cp "$tmp"/*.json "$results" "$out"/
fi
