#!/usr/bin/env bash
# The headline benchmark: `direct` closed loop against natterd and against the
# raw relay, back to back with the same generator, and natterd as a fraction
# of the relay; then natterd's latency at a moderate open-loop rate.
#
#   scripts/bench.sh [--smoke] [--duration S] [--pairs N] [--window W] [--threads N]
#                    [--latency-rate R] [--sqlite-synchronous full|normal] [--out DIR]
#   scripts/bench.sh [--smoke] [--offline K] [--connections N] [--hold S]
#                    [--group] [--members M] [--messages N] [--group-window W]
#
# --smoke: a seconds-long run with --verify that asserts delivery, never speed
# (the ctest `bench_smoke`). --offline K / --connections N / --group run those
# scenarios instead of direct-vs-relay (any of them may be given): K messages
# queued for an offline device and the drain timed; N idle sockets held for S
# seconds (default 2) with natterd's RSS and the kernel's socket memory; a
# group of M members (default 200; smoke 20) that user 0 sends N messages
# into (default 200; smoke 50; closed loop, W not yet fully delivered,
# default 16), with --verify, its fan-out deliveries/s given as a ratio to a
# `direct` run on the same M users and natterd just before it (no baseline
# with --smoke). With --smoke they assert only that everything was delivered /
# connected (the ctest `bench_scenarios_smoke`). Binaries: $NATTERD and
# $NATTER_BENCH, else build/natterd and build/natter-bench. Everything it
# starts it stops.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
NATTERD=${NATTERD:-$here/build/natterd}
NATTER_BENCH=${NATTER_BENCH:-$here/build/natter-bench}

smoke=0 duration=10 pairs=50 window=16 threads=$(nproc) latency_rate="" out="" synchronous=full
offline=0 connections=0 hold=2 group=0 members="" messages="" group_window=16
while [[ $# -gt 0 ]]; do
  case $1 in
    --smoke) smoke=1; duration=2; pairs=4; window=8 ;;
    --duration) duration=$2; shift ;;
    --pairs) pairs=$2; shift ;;
    --window) window=$2; shift ;;
    --threads) threads=$2; shift ;;
    --latency-rate) latency_rate=$2; shift ;;
    --out) out=$2; shift ;;
    --sqlite-synchronous) synchronous=$2; shift ;;
    --offline) offline=$2; shift ;;
    --group) group=1 ;;
    --members) members=$2; shift ;;
    --messages) messages=$2; shift ;;
    --group-window) group_window=$2; shift ;;
    --connections) connections=$2; shift ;;
    --hold) hold=$2; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
for bin in "$NATTERD" "$NATTER_BENCH"; do
  [[ -x $bin ]] || { echo "bench.sh: $bin is not built (make build, or set NATTERD / NATTER_BENCH)" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/natter-bench.XXXXXX")
pids=()
cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ $rc -ne 0 && -f $tmp/natterd.log ]]; then
    echo "bench.sh: failed; natterd's last log lines:" >&2
    tail -n 20 "$tmp/natterd.log" >&2 || true
  fi
  rm -rf "$tmp"
  exit $rc
}
trap cleanup EXIT
trap 'exit 143' TERM INT  # so the EXIT trap stops what was started

# start NAME CMD...: runs CMD with stdout on a fifo, waits (30 s at most) for its
# "listening on ...:PORT" line and sets $port; keeps draining its stdout after.
start() {
  local name=$1; shift
  mkfifo "$tmp/$name.fifo"
  "$@" >"$tmp/$name.fifo" 2>"$tmp/$name.log" &
  pids+=($!)
  started_pid=$!
  local line=""
  exec {fd}<"$tmp/$name.fifo"
  if ! read -r -t 30 -u "$fd" line || [[ $line != *"listening on"* ]]; then
    echo "bench.sh: $name did not report listening within 30 s: '$line'" >&2
    cat "$tmp/$name.log" >&2 || true
    exit 1
  fi
  cat <&"$fd" >/dev/null &
  pids+=($!)
  port=$(sed -E 's/.*127\.0\.0\.1:([0-9]+).*/\1/' <<<"$line")
}

field() { sed -E "s/.*\"$2\":([0-9.e+-]+).*/\1/" "$1"; }

if [[ $offline -gt 0 || $connections -gt 0 || $group -gt 0 ]]; then
  # natterd and the generator each need one fd per socket.
  ulimit -n "$(ulimit -Hn)"
  [[ -n $members ]] || members=$(( smoke ? 20 : 200 ))
  [[ -n $messages ]] || messages=$(( smoke ? 50 : 200 ))
  users=$(( connections > 2 ? connections : 2 ))
  [[ $group -gt 0 && $members -gt $users ]] && users=$members
  "$NATTERD" admin seed-users --count "$users" --prefix bench --data "$tmp/data" >"$tmp/users.jsonl" 2>"$tmp/seed.log" \
    || { cat "$tmp/seed.log" >&2; exit 1; }
  start natterd "$NATTERD" --listen 127.0.0.1:0 --data "$tmp/data" --threads "$threads" --drain-grace 0 \
    --send-rate 1000000 --send-burst 1000000 --frame-rate 1000000 --frame-burst 1000000 --sqlite-synchronous "$synchronous"
  natterd_port=$port natterd_pid=$started_pid
  progress=()
  [[ $smoke -eq 1 ]] && progress=(--no-progress)
  if [[ $offline -gt 0 ]]; then
    echo "bench.sh: offline, $offline messages queued for an offline device, then the drain (natterd with $threads threads, sqlite synchronous=$synchronous)" >&2
    "$NATTER_BENCH" offline --users "$tmp/users.jsonl" --target "127.0.0.1:$natterd_port" --count "$offline" --json \
      "${progress[@]}" >"$tmp/offline.json" \
      || { echo "bench.sh: the offline run failed:" >&2; cat "$tmp/offline.json" >&2; exit 1; }
    jq -r '"offline  \(.count) queued in \(.queue_s*1000|floor) ms; drained in \(.drain_s*1000|floor) ms (\(.drain_msgs_per_s|floor) msgs/s), \(.delivered) delivered, verify \(if .verify.ok then "OK" else "FAILED" end)"' "$tmp/offline.json"
  fi
  if [[ $connections -gt 0 ]]; then
    echo "bench.sh: connections, $connections idle sockets held ${hold}s (fd hard limit $(ulimit -Hn))" >&2
    "$NATTER_BENCH" connections --users "$tmp/users.jsonl" --target "127.0.0.1:$natterd_port" --count "$connections" \
      --server-pid "$natterd_pid" --hold "$hold" --json "${progress[@]}" >"$tmp/connections.json" \
      || { echo "bench.sh: the connections run failed:" >&2; cat "$tmp/connections.json" >&2; exit 1; }
    jq -r '"connections  \(.connected) of \(.count) in \(.connect_s*1000|floor) ms (\(.connect_per_s|floor)/s); natterd RSS \(.server_rss_before_bytes/1048576*10|floor/10) -> \(.server_rss_after_bytes/1048576*10|floor/10) MiB = \(.server_rss_per_connection_bytes|floor) B/connection; kernel TCP mem \(.kernel_tcp_mem_before_bytes/1048576*10|floor/10) -> \(.kernel_tcp_mem_after_bytes/1048576*10|floor/10) MiB = \(.kernel_tcp_mem_per_connection_bytes|floor) B/connection; kernel socket slabs \(.kernel_socket_slab_per_connection_bytes // 0|floor) B/connection, SUnreclaim \(.kernel_sunreclaim_per_connection_bytes|floor) B/connection (both ends)"' "$tmp/connections.json"
  fi
  if [[ $group -gt 0 ]]; then
    if [[ $smoke -eq 0 ]]; then
      # The baseline: 1:1 deliveries/s of the same M users (M/2 pairs) on the same natterd, just before.
      echo "bench.sh: group baseline, direct closed loop on the same $members users ($((members / 2)) pairs, window $window, ${duration}s)" >&2
      "$NATTER_BENCH" direct --users "$tmp/users.jsonl" --target "127.0.0.1:$natterd_port" --pairs $((members / 2)) \
        --window "$window" --duration "$duration" --json "${progress[@]}" >"$tmp/group_baseline.json" \
        || { echo "bench.sh: the group's direct baseline failed:" >&2; cat "$tmp/group_baseline.json" >&2; exit 1; }
    fi
    echo "bench.sh: group, $members members, $messages messages from member 0, closed loop window $group_window, --verify (natterd with $threads threads, sqlite synchronous=$synchronous)" >&2
    "$NATTER_BENCH" group --users "$tmp/users.jsonl" --target "127.0.0.1:$natterd_port" --members "$members" \
      --messages "$messages" --window "$group_window" --verify --json "${progress[@]}" >"$tmp/group.json" \
      || { echo "bench.sh: the group run failed:" >&2; cat "$tmp/group.json" >&2; exit 1; }
    if [[ $smoke -eq 0 ]]; then
      jq -r '"direct \(.pairs) pairs (baseline): \(.throughput_msgs_per_s|floor) deliveries/s, p50 \(.latency.p50_ns/1e3|floor/1e3) ms, p99 \(.latency.p99_ns/1e3|floor/1e3) ms"' "$tmp/group_baseline.json"
    fi
    jq -r '"group  \(.members) members x \(.messages) messages: \(.delivered) of \(.deliveries_expected) deliveries in \(.duration_s*1000|floor) ms (\(.deliveries_per_s|floor) deliveries/s; \(.sends_per_s|floor) sends/s), send->delivery p50 \(.latency.p50_ns/1e3|floor/1e3) ms, p99 \(.latency.p99_ns/1e3|floor/1e3) ms, max \(.latency.max_ns/1e3|floor/1e3) ms; \(.receipts) receipts to the sender; verify \(if .verify.ok then "OK" else "FAILED" end)"' "$tmp/group.json"
    if [[ $smoke -eq 0 ]]; then
      g=$(jq -r .deliveries_per_s "$tmp/group.json") d=$(jq -r .throughput_msgs_per_s "$tmp/group_baseline.json")
      awk -v g="$g" -v d="$d" 'BEGIN { printf "ratio  %.3f (group fan-out deliveries/s / direct deliveries/s)\n", (d > 0 ? g / d : 0) }'
    fi
  fi
  if [[ -n $out ]]; then
    mkdir -p "$out"
    cp "$tmp"/*.json "$out"/
  fi
  exit 0
fi

users=$((pairs * 2))
"$NATTERD" admin seed-users --count "$users" --prefix bench --data "$tmp/data" >"$tmp/users.jsonl" 2>"$tmp/seed.log" \
  || { cat "$tmp/seed.log" >&2; exit 1; }

start natterd "$NATTERD" --listen 127.0.0.1:0 --data "$tmp/data" --threads "$threads" --drain-grace 0 \
  --send-rate 1000000 --send-burst 1000000 --frame-rate 1000000 --frame-burst 1000000 --sqlite-synchronous "$synchronous"
natterd_port=$port
start relay "$NATTER_BENCH" relay --listen 127.0.0.1:0 --threads "$threads"
relay_port=$port

common=(direct --users "$tmp/users.jsonl" --json --window "$window" --duration "$duration")
[[ $smoke -eq 1 ]] && common+=(--no-progress --drain 60)
verify=()
[[ $smoke -eq 1 ]] && verify=(--verify)

echo "bench.sh: $pairs pairs, closed loop, window $window, ${duration}s each; natterd (sqlite synchronous=$synchronous) and relay with $threads threads" >&2
"$NATTER_BENCH" "${common[@]}" "${verify[@]}" --target "127.0.0.1:$natterd_port" >"$tmp/natterd.json" \
  || { echo "bench.sh: the run against natterd failed:" >&2; cat "$tmp/natterd.json" >&2; exit 1; }
"$NATTER_BENCH" "${common[@]}" --target "127.0.0.1:$relay_port" >"$tmp/relay.json" \
  || { echo "bench.sh: the run against the relay failed:" >&2; cat "$tmp/relay.json" >&2; exit 1; }

n=$(field "$tmp/natterd.json" throughput_msgs_per_s)
r=$(field "$tmp/relay.json" throughput_msgs_per_s)
awk -v n="$n" -v r="$r" 'BEGIN {
  printf "natterd  %10.0f msgs/s\nrelay    %10.0f msgs/s\nratio    %10.3f (natterd / relay)\n", n, r, (r > 0 ? n / r : 0) }'
if [[ $smoke -eq 1 ]]; then
  # natter-bench exits non-zero on any violation; this makes sure the checker ran at all.
  grep -q '"verify":{' "$tmp/natterd.json" || { echo "bench.sh: no verify report:" >&2; cat "$tmp/natterd.json" >&2; exit 1; }
  echo "verify   OK ($(field "$tmp/natterd.json" sent_ok) messages sent and delivered once, in order)"
fi

if [[ $smoke -eq 0 ]]; then
  # Latency at a moderate load: half of the closed-loop maximum unless given.
  [[ -n $latency_rate ]] || latency_rate=$(awk -v n="$n" 'BEGIN { printf "%d", n / 2 }')
  echo "bench.sh: natterd open loop at $latency_rate msgs/s for ${duration}s" >&2
  "$NATTER_BENCH" direct --users "$tmp/users.jsonl" --json --rate "$latency_rate" --duration "$duration" \
    --target "127.0.0.1:$natterd_port" >"$tmp/latency.json" \
    || { echo "bench.sh: the open-loop run failed:" >&2; cat "$tmp/latency.json" >&2; exit 1; }
  jq -r '"latency  at \(.rate) msgs/s offered, \(.throughput_msgs_per_s | floor) delivered: p50 \(.latency.p50_ns/1e3|floor/1e3) ms, p90 \(.latency.p90_ns/1e3|floor/1e3) ms, p99 \(.latency.p99_ns/1e3|floor/1e3) ms, p99.9 \(.latency.p99_9_ns/1e3|floor/1e3) ms, max \(.latency.max_ns/1e3|floor/1e3) ms"' "$tmp/latency.json" 2>/dev/null \
    || cat "$tmp/latency.json"
fi
if [[ -n $out ]]; then
  mkdir -p "$out"
  cp "$tmp"/*.json "$out"/
fi
