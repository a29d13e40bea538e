#!/usr/bin/env bash
# The soak: natter-bench `direct` against one natterd at half its measured
# maximum for a long time (default 1 hour), with --verify (nothing lost,
# nothing twice, order kept), sampling natterd's RSS and open fds every
# minute. Not in CI; docs/BENCHMARKS.md "Soak" has a run.
#
#   scripts/soak.sh [--minutes M] [--interval S] [--pairs N] [--rate R]
#                   [--probe-seconds S] [--out DIR] [-- NATTERD-ARGS...]
#
# --minutes: how long the loaded run lasts (default 60). --interval: seconds
# between samples (default 60). --pairs: sender/receiver pairs (default 50).
# --rate: sends/s offered; default half of what a closed-loop probe of
# --probe-seconds (default 10) on the same natterd delivered just before.
# --out: where to keep samples.csv, probe.json, soak.json and natterd.log
# (default: a temp dir, removed, its summary printed). Anything after `--`
# goes to natterd (e.g. `-- --history-retention 600 --sweep-interval 60`).
# Binaries: $NATTERD and $NATTER_BENCH, else build/natterd and
# build/natter-bench. Exits non-zero if the verified run found a violation
# or natterd died. Everything it starts it stops.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
NATTERD=${NATTERD:-$here/build/natterd}
NATTER_BENCH=${NATTER_BENCH:-$here/build/natter-bench}

minutes=60 interval=60 pairs=50 rate="" probe=10 out="" natterd_args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --minutes) minutes=$2; shift ;;
    --interval) interval=$2; shift ;;
    --pairs) pairs=$2; shift ;;
    --rate) rate=$2; shift ;;
    --probe-seconds) probe=$2; shift ;;
    --out) out=$2; shift ;;
    --) shift; natterd_args=("$@"); break ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
for bin in "$NATTERD" "$NATTER_BENCH"; do
  [[ -x $bin ]] || { echo "soak.sh: $bin is not built (make build, or set NATTERD / NATTER_BENCH)" >&2; exit 2; }
done
command -v jq >/dev/null || { echo "soak.sh: needs jq" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/natter-soak.XXXXXX")
[[ -n $out ]] && mkdir -p "$out"
dir=${out:-$tmp}
pids=()
cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ $rc -ne 0 && -f $dir/natterd.log ]]; then
    echo "soak.sh: failed; natterd's last log lines:" >&2
    tail -n 20 "$dir/natterd.log" >&2 || true
  fi
  rm -rf "$tmp"
  exit $rc
}
trap cleanup EXIT
trap 'exit 143' TERM INT

"$NATTERD" admin seed-users --count $((pairs * 2)) --prefix soak --data "$tmp/data" >"$tmp/users.jsonl" 2>"$tmp/seed.log" \
  || { cat "$tmp/seed.log" >&2; exit 1; }

# natterd on a fifo: its "listening on HOST:PORT" line gives the port.
mkfifo "$tmp/natterd.fifo"
"$NATTERD" --listen 127.0.0.1:0 --data "$tmp/data" --drain-grace 0 \
  --send-rate 1000000 --send-burst 1000000 --frame-rate 1000000 --frame-burst 1000000 \
  "${natterd_args[@]}" >"$tmp/natterd.fifo" 2>"$dir/natterd.log" &
natterd_pid=$!
pids+=("$natterd_pid")
exec {fd}<"$tmp/natterd.fifo"
line=""
if ! read -r -t 30 -u "$fd" line || [[ $line != *"listening on"* ]]; then
  echo "soak.sh: natterd did not report listening within 30 s: '$line'" >&2
  exit 1
fi
cat <&"$fd" >/dev/null &
pids+=($!)
port=$(sed -E 's/.*127\.0\.0\.1:([0-9]+).*/\1/' <<<"$line")
target=127.0.0.1:$port

if [[ -z $rate ]]; then
  echo "soak.sh: probing the maximum: closed loop, $pairs pairs, ${probe}s" >&2
  "$NATTER_BENCH" direct --users "$tmp/users.jsonl" --target "$target" --duration "$probe" --json --no-progress \
    >"$dir/probe.json" || { echo "soak.sh: the probe failed:" >&2; cat "$dir/probe.json" >&2; exit 1; }
  max=$(jq -r .throughput_msgs_per_s "$dir/probe.json")
  rate=$(awk -v m="$max" 'BEGIN { printf "%d", m / 2 }')
  echo "soak.sh: maximum $max msgs/s; soaking at $rate msgs/s" >&2
fi

# sample PHASE ELAPSED_S: one CSV row of natterd's RSS, open fds, threads and CPU.
ticks=$(getconf CLK_TCK)
sample() {
  local rss fds threads cpu
  rss=$(awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$natterd_pid/status")
  threads=$(awk '/^Threads:/ { print $2 }' "/proc/$natterd_pid/status")
  fds=$(find "/proc/$natterd_pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  cpu=$(awk -v t="$ticks" '{ printf "%.1f", ($14 + $15) / t }' "/proc/$natterd_pid/stat")
  echo "$1,$2,$rss,$fds,$threads,$cpu" >>"$dir/samples.csv"
}
echo "phase,elapsed_s,rss_bytes,open_fds,threads,cpu_s" >"$dir/samples.csv"
sample before 0

seconds=$((minutes * 60))
echo "soak.sh: $minutes min at $rate msgs/s over $pairs pairs, --verify; natterd pid $natterd_pid; a sample every ${interval}s in $dir/samples.csv" >&2
"$NATTER_BENCH" direct --users "$tmp/users.jsonl" --target "$target" --rate "$rate" --duration "$seconds" \
  --drain 60 --verify --json --no-progress >"$dir/soak.json" &
bench_pid=$!
pids+=("$bench_pid")
start=$(date +%s)
# A sample every interval until the bench ends (`wait -n` returns on the
# tick or the bench's end, whichever is first); natterd dying ends the soak.
while kill -0 "$bench_pid" 2>/dev/null; do
  sleep "$interval" &
  tick=$!
  wait -n "$tick" "$bench_pid" 2>/dev/null || true
  kill "$tick" 2>/dev/null || true
  kill -0 "$natterd_pid" 2>/dev/null || { echo "soak.sh: natterd died" >&2; exit 1; }
  elapsed=$(( $(date +%s) - start ))
  # Past the measured time the bench drains and closes: not "under load".
  if kill -0 "$bench_pid" 2>/dev/null && [[ $elapsed -lt $seconds ]]; then sample load "$elapsed"; fi
done
bench_rc=0
wait "$bench_pid" || bench_rc=$?
sample after $(( $(date +%s) - start ))

jq -r '"soak  \(.sent_ok) sent, \(.delivered) delivered at \(.throughput_msgs_per_s|floor) msgs/s; latency p50 \(.latency.p50_ns/1e3|floor/1e3) ms, p99 \(.latency.p99_ns/1e3|floor/1e3) ms, max \(.latency.max_ns/1e3|floor/1e3) ms; verify \(if .verify.ok then "OK" else "FAILED" end)"' \
  "$dir/soak.json" 2>/dev/null || cat "$dir/soak.json"
# The trend under load: first, last, min, max and a least-squares slope per
# hour; then what natterd holds before the load and once it is over.
awk -F, '$1 == "load" {
    n++; r[n] = $3; f[n] = $4
    st += $2; sr += $3; sf += $4; stt += $2 * $2; str += $2 * $3; stf += $2 * $4
    if (n == 1 || $3 < rmin) rmin = $3; if ($3 > rmax) rmax = $3
    if (n == 1 || $4 < fmin) fmin = $4; if ($4 > fmax) fmax = $4
  }
  $1 == "before" { rb = $3; fb = $4 } $1 == "after" { ra = $3; fa = $4 }
  END {
    d = n * stt - st * st
    rs = d ? (n * str - st * sr) / d * 3600 : 0
    fs = d ? (n * stf - st * sf) / d * 3600 : 0
    printf "rss   under load: first %.1f MiB, last %.1f MiB, min %.1f, max %.1f; slope %+.2f MiB/hour (%d samples); before %.1f MiB, after %.1f MiB\n",
      r[1] / 1048576, r[n] / 1048576, rmin / 1048576, rmax / 1048576, rs / 1048576, n, rb / 1048576, ra / 1048576
    printf "fds   under load: first %d, last %d, min %d, max %d; slope %+.1f/hour; before %d, after %d\n",
      f[1], f[n], fmin, fmax, fs, fb, fa
  }' "$dir/samples.csv"
[[ -n $out ]] || cat "$dir/samples.csv"
exit "$bench_rc"
