#!/usr/bin/env bash
# Draws docs/img/ring-balance.png (the largest shard's load over the mean
# against vnodes per shard, one line per shard count) and
# docs/img/ring-moved.png (users moved when the ring grows from n to n+1
# shards, against the ideal 1/(n+1)) from one `natter-bench ring --json`
# run. Keeps the numbers beside them (ring-balance.dat, ring-moved.dat).
# Installs gnuplot-nox and jq when missing (Debian).
#
#   scripts/ring-plot.sh [--users N] [--max-shards N] [--out DIR]
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
NATTER_BENCH=${NATTER_BENCH:-$here/build/natter-bench}
users=1000000 max_shards=16 out=$here/docs/img
while [[ $# -gt 0 ]]; do
  case $1 in
    --users) users=$2; shift ;;
    --max-shards) max_shards=$2; shift ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "ring-plot.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
for tool in gnuplot jq; do
  command -v $tool >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox jq; }
done
[[ -x $NATTER_BENCH ]] || { echo "ring-plot.sh: $NATTER_BENCH is not built (make build)" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/natter-ring-plot.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$NATTER_BENCH" ring --users "$users" --max-shards "$max_shards" --json >"$tmp/ring.json"
ids=$(jq -r .ids "$tmp/ring.json")
sets=$(jq -r .name_sets "$tmp/ring.json")
vnodes=$(jq -r .move_vnodes "$tmp/ring.json")

# One block per shard count (gnuplot's `index`), in the order of --shards.
jq -r '.balance | group_by(.shards) | .[] |
       "# shards \(.[0].shards): vnodes max/mean(users) name-sets-mean name-sets-worst min/mean(users)",
       (.[] | [.vnodes, .max_over_mean, .name_sets.arc_max_over_mean_mean, .name_sets.arc_max_over_mean_worst,
               .min_over_mean] | @tsv), "", ""' "$tmp/ring.json" >"$tmp/balance.dat"
shard_counts=($(jq -r '[.balance[].shards] | unique | .[]' "$tmp/ring.json"))
jq -r '"# n moved_share ideal ratio", (.moves[] | [.from, .moved_share, .ideal, .ratio] | @tsv)' "$tmp/ring.json" >"$tmp/moved.dat"

# Solid: the ring of pg-1..pg-n, measured on the users; dashed: the mean
# over the other name sets (what a vnode count gives); dotted: their worst.
all=() zoom=() colors=("#1f77b4" "#d62728" "#2ca02c" "#9467bd" "#ff7f0e")
for i in "${!shard_counts[@]}"; do
  c=${colors[i % ${#colors[@]}]} n=${shard_counts[i]}
  measured="'$tmp/balance.dat' index $i using 1:2 with linespoints lw 2 pt 7 lc rgb '$c'"
  mean="'$tmp/balance.dat' index $i using 1:3 with lines dt 2 lw 1.5 lc rgb '$c'"
  worst="'$tmp/balance.dat' index $i using 1:4 with lines dt 3 lw 1.5 lc rgb '$c'"
  all+=("$measured title '$n shards, pg-1..pg-$n'" "$mean title 'mean of $sets name sets'")
  zoom+=("$measured notitle" "$mean notitle" "$worst title '$n shards, worst of $sets'")
done
users_text=$(sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<<"$users")
mkdir -p "$out"
cp "$tmp/balance.dat" "$out/ring-balance.dat"
cp "$tmp/moved.dat" "$out/ring-moved.dat"
gnuplot <<GP
set terminal pngcairo size 1100,520 noenhanced
set grid
set output "$out/ring-balance.png"
set multiplot layout 1,2 title "Largest shard over the mean, $users_text users ($ids ids)"
set xlabel "vnodes per shard"
set ylabel "max load / mean load"
set logscale x 2
set xrange [0.8:1300]
set yrange [1:*]
set key top right font ",9"
set title "all vnode counts"
plot $(IFS=,; echo "${all[*]}")
set title "32 and up (dotted: the worst name set)"
set xrange [28:1200]
set yrange [1:1.7]
plot $(IFS=,; echo "${zoom[*]}")
unset multiplot
set terminal pngcairo size 800,500 noenhanced
set key top right font ",11"
set output "$out/ring-moved.png"
set title "Users moved when the ring grows from n to n+1 shards ($vnodes vnodes, $users_text users)"
unset logscale x
set xrange [0.5:$max_shards - 0.5]
set xtics 1
set yrange [0:*]
set xlabel "n (shards before)"
set ylabel "share of users moved"
plot "$tmp/moved.dat" using 1:2 with linespoints lw 2 pt 7 title "moved", \
     "" using 1:3 with lines dt 2 lw 2 title "ideal 1/(n+1)"
GP
echo "ring-plot.sh: wrote $out/ring-balance.png and $out/ring-moved.png"
