#!/usr/bin/env bash
# Runs natter's libFuzzer targets (fuzz/, built by the sanitizer tree):
#   scripts/fuzz.sh [--seconds N] [--target NAME]... BUILD_DIR
# Each target starts from its seed corpus (fuzz/corpus/NAME, only read) and
# a work corpus of its own in a temp directory, so the committed seeds never
# grow. Per target it prints the runs, the CPU seconds and the crashes; a
# crash's input is kept in BUILD_DIR/fuzz-artifacts/NAME/ and the script
# exits 1 after the other targets ran. `make fuzz` and the ctest label
# `fuzz` (a few seconds each) call it.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds=60
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --target) targets+=("$2"); shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) break ;;
  esac
done
if [ $# -ne 1 ]; then
  echo "usage: scripts/fuzz.sh [--seconds N] [--target NAME]... BUILD_DIR" >&2
  exit 2
fi
build="$(cd "$1" && pwd)"
if [ ${#targets[@]} -eq 0 ]; then
  for dir in "$root"/fuzz/corpus/*/; do targets+=("$(basename "$dir")"); done
fi

# Leaks and undefined behaviour fail the input, as in the sanitizer tests.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

work="$(mktemp -d /tmp/natter-fuzz-run-XXXXXX)"
trap 'rm -rf "$work"' EXIT
failed=0
printf '%-12s %12s %12s %8s\n' target runs cpu_seconds crashes
for name in "${targets[@]}"; do
  bin="$build/fuzz/fuzz_$name"
  seeds="$root/fuzz/corpus/$name"
  if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
    echo "fuzz: no $bin or no $seeds" >&2
    failed=1
    continue
  fi
  artifacts="$build/fuzz-artifacts/$name"
  mkdir -p "$work/$name/corpus" "$work/$name/tmp" "$artifacts"
  dict=()
  [ -f "$root/fuzz/$name.dict" ] && dict=(-dict="$root/fuzz/$name.dict")
  log="$work/$name/log"
  # CPU seconds of the fuzzer and its threads: the process's user + system.
  start_cpu="$(awk '{print $14+$15+$16+$17}' /proc/$$/stat)"
  ( cd "$work/$name" && TMPDIR="$work/$name/tmp" exec "$bin" -max_total_time="$seconds" -timeout=30 \
      -print_final_stats=1 -artifact_prefix="$artifacts/" "${dict[@]}" "$work/$name/corpus" "$seeds" ) >"$log" 2>&1
  rc=$?
  end_cpu="$(awk '{print $14+$15+$16+$17}' /proc/$$/stat)"
  cpu="$(awk -v a="$start_cpu" -v b="$end_cpu" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", (b - a) / hz}')"
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  crashes=0
  if [ $rc -ne 0 ]; then
    crashes=1
    failed=1
  fi
  printf '%-12s %12s %12s %8s\n' "$name" "${runs:-?}" "$cpu" "$crashes"
  if [ $rc -ne 0 ]; then
    echo "--- fuzz_$name exited $rc; its input is in $artifacts/; the log's end:" >&2
    tail -60 "$log" >&2
  fi
done
exit $failed
