#!/usr/bin/env bash
# Draws docs/img/bench-throughput.png (delivered over offered load) and
# docs/img/bench-latency.png (latency percentiles over offered load) from
# natter-bench `direct --json` runs against natterd at a series of open-loop
# rates. Installs gnuplot-nox and jq when missing (Debian).
#
#   scripts/bench-plot.sh [--rates "1000 2000 ..."] [--duration S] [--pairs N] [--out DIR]
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
NATTERD=${NATTERD:-$here/build/natterd}
NATTER_BENCH=${NATTER_BENCH:-$here/build/natter-bench}
rates="1000 2000 4000 6000 8000 10000 12000 16000"
duration=3 pairs=20 out=$here/docs/img
while [[ $# -gt 0 ]]; do
  case $1 in
    --rates) rates=$2; shift ;;
    --duration) duration=$2; shift ;;
    --pairs) pairs=$2; shift ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "bench-plot.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
for tool in gnuplot jq; do
  command -v $tool >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox jq; }
done
for bin in "$NATTERD" "$NATTER_BENCH"; do
  [[ -x $bin ]] || { echo "bench-plot.sh: $bin is not built (make build)" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/natter-plot.XXXXXX")
pid=""
cleanup() { [[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

"$NATTERD" admin seed-users --count $((2 * pairs)) --prefix plot --data "$tmp/data" --sqlite-synchronous normal >"$tmp/users.jsonl"
"$NATTERD" --listen 127.0.0.1:0 --data "$tmp/data" --drain-grace 0 --send-rate 1000000 --send-burst 1000000 \
  --frame-rate 1000000 --frame-burst 1000000 >"$tmp/natterd.out" 2>"$tmp/natterd.log" &
pid=$!
for _ in $(seq 300); do
  port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/natterd.out")
  [[ -n $port ]] && break
  sleep 0.1
done
[[ -n ${port:-} ]] || { echo "bench-plot.sh: natterd did not start" >&2; cat "$tmp/natterd.log" >&2; exit 1; }

echo "# offered delivered p50_ms p90_ms p99_ms p999_ms" >"$tmp/points.dat"
for rate in $rates; do
  "$NATTER_BENCH" direct --users "$tmp/users.jsonl" --target 127.0.0.1:$port --rate "$rate" --duration "$duration" \
    --json --no-progress >"$tmp/run.json" || true
  jq -r --arg r "$rate" '[$r, .throughput_msgs_per_s, .latency.p50_ns/1e6, .latency.p90_ns/1e6,
                          .latency.p99_ns/1e6, .latency.p99_9_ns/1e6] | @tsv' "$tmp/run.json" | tee -a "$tmp/points.dat"
done

mkdir -p "$out"
cp "$tmp/points.dat" "$out/bench-points.dat"
gnuplot <<GP
set terminal pngcairo size 800,500 noenhanced
set datafile separator whitespace
set grid
set key top left
set output "$out/bench-throughput.png"
set title "natterd, direct 1:1, open loop ($pairs pairs, ${duration} s per point)"
set xlabel "offered (msgs/s)"
set ylabel "delivered (msgs/s)"
plot "$tmp/points.dat" using 1:2 with linespoints lw 2 title "delivered", x with lines dt 2 title "offered"
set output "$out/bench-latency.png"
set title "natterd latency over offered load"
set ylabel "latency (ms)"
set logscale y
set key top left
plot "$tmp/points.dat" using 1:3 with linespoints title "p50", "" using 1:4 with linespoints title "p90", \
     "" using 1:5 with linespoints title "p99", "" using 1:6 with linespoints title "p99.9"
GP
echo "bench-plot.sh: wrote $out/bench-throughput.png and $out/bench-latency.png"
