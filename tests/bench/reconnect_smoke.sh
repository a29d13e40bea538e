#!/usr/bin/env bash
# `natter-bench direct --reconnect --verify` across two restarts of natterd
# on the same port and data directory (SQLite keeps messages, inboxes and
# the token key): first SIGTERM (sockets closed with 1012 after
# --drain-grace 0), then SIGKILL (sockets reset; what got `sent` was
# committed). natterd's per-user send rate is low (200/s, burst 50) so sends
# are also refused with `rate_limited` and retried after retry_after_ms.
# Asserts: the run is ok and drained, verify passes (nothing that got `sent`
# lost, nothing twice on one connection, gapless seq runs, redeliveries
# across connections allowed), every socket reconnected after each restart,
# nothing was given up on, and sends were retried. Each step waits for an
# event (natterd's "listening on" line, natterd's exit, natter-bench's
# progress lines) with a deadline; no fixed sleeps.
set -euo pipefail
natterd=${NATTERD:?set NATTERD to the natterd binary}
bench=${NATTER_BENCH:?set NATTER_BENCH to the natter-bench binary}
command -v jq >/dev/null || { echo "reconnect_smoke.sh: needs jq (scripts/deps.sh)" >&2; exit 2; }

pairs=4 sockets=8 duration=12
tmp=$(mktemp -d "${TMPDIR:-/tmp}/natter-reconnect.XXXXXX")
natterd_pid="" bench_pid="" drain_pids=()
cleanup() {
  local rc=$?
  # A child forked for `cmd &` holds these traps until it execs: never clean up from there.
  [[ $BASHPID == "$$" ]] || exit $rc
  [[ -n $bench_pid ]] && kill -TERM "$bench_pid" 2>/dev/null || true
  [[ -n $natterd_pid ]] && kill -KILL "$natterd_pid" 2>/dev/null || true
  for pid in $bench_pid $natterd_pid "${drain_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ $rc -ne 0 ]]; then
    echo "reconnect_smoke.sh: failed; natter-bench's progress and natterd's last log lines:" >&2
    cat "$tmp/bench.progress" >&2 2>/dev/null || true
    tail -n 20 "$tmp/natterd.log" >&2 2>/dev/null || true
  fi
  rm -rf "$tmp"
  exit $rc
}
trap cleanup EXIT
trap 'exit 143' TERM INT
fail() { echo "reconnect_smoke.sh: $*" >&2; exit 1; }

"$natterd" admin seed-users --count $((pairs * 2)) --prefix recon --data "$tmp/data" >"$tmp/users.jsonl" 2>"$tmp/seed.log" \
  || { cat "$tmp/seed.log" >&2; exit 1; }

# start_natterd LISTEN: starts natterd and waits (30 s at most) for its
# "listening on ...:PORT" line; sets natterd_pid and port.
start_natterd() {
  rm -f "$tmp/natterd.fifo"
  mkfifo "$tmp/natterd.fifo"
  "$natterd" --listen "$1" --data "$tmp/data" --drain-grace 0 --send-rate 200 --send-burst 50 \
    --frame-rate 1000000 --frame-burst 1000000 >"$tmp/natterd.fifo" 2>>"$tmp/natterd.log" &
  natterd_pid=$!
  local fd line=""
  exec {fd}<"$tmp/natterd.fifo"
  read -r -t 30 -u "$fd" line || true
  [[ $line == *"listening on"* ]] || fail "natterd did not report listening within 30 s: '$line'"
  cat <&"$fd" >/dev/null &
  drain_pids+=($!)
  exec {fd}<&-
  port=$(sed -E 's/.*127\.0\.0\.1:([0-9]+).*/\1/' <<<"$line")
}

# stop_natterd SIGNAL: signals natterd and waits (15 s at most) for it to
# exit: `wait -n` on natterd and a timer, whichever ends first (bash 5.1).
stop_natterd() {
  local sig=$1 status=0 timer
  kill "-$sig" "$natterd_pid"
  sleep 15 &
  timer=$!
  wait -n "$natterd_pid" "$timer" || true
  if kill -0 "$natterd_pid" 2>/dev/null; then
    kill -KILL "$natterd_pid" 2>/dev/null || true
    wait "$natterd_pid" 2>/dev/null || true
    natterd_pid=""
    fail "natterd did not exit within 15 s of SIG$sig"
  fi
  kill "$timer" 2>/dev/null || true
  wait "$timer" 2>/dev/null || true
  wait "$natterd_pid" 2>/dev/null || status=$?
  natterd_pid=""
  [[ $sig == KILL || $status -eq 0 ]] || fail "natterd exited $status after SIGTERM"
}

# wait_progress WHAT SECONDS MIN_RECONNECTS: reads natter-bench's progress
# lines until one shows at least MIN_RECONNECTS reconnects, no socket down
# and deliveries in the last second.
wait_progress() {
  local what=$1 deadline=$((SECONDS + $2)) min=$3 line
  while ((SECONDS < deadline)); do
    if ! read -r -t $((deadline - SECONDS)) -u "$bench_fd" line; then
      [[ -n ${line:-} ]] || break
    fi
    echo "$line" >>"$tmp/bench.progress"
    [[ $line =~ delivered\ +([0-9]+)/s.*reconnects\ ([0-9]+).*down\ ([0-9]+) ]] || continue
    if ((BASH_REMATCH[1] > 0 && BASH_REMATCH[2] >= min && BASH_REMATCH[3] == 0)); then return 0; fi
  done
  kill -0 "$bench_pid" 2>/dev/null || fail "natter-bench ended before $what (its window is ${duration}s)"
  fail "timed out waiting for $what"
}

start_natterd 127.0.0.1:0
mkfifo "$tmp/bench.fifo"
"$bench" direct --users "$tmp/users.jsonl" --target "127.0.0.1:$port" --pairs $pairs --window 8 \
  --duration $duration --drain 60 --reconnect --verify --json >"$tmp/bench.json" 2>"$tmp/bench.fifo" &
bench_pid=$!
exec {bench_fd}<"$tmp/bench.fifo"

wait_progress "natter-bench to deliver" 30 0
stop_natterd TERM
start_natterd "127.0.0.1:$port"
wait_progress "every socket back after the SIGTERM restart" 30 $sockets
stop_natterd KILL
start_natterd "127.0.0.1:$port"
wait_progress "every socket back after the SIGKILL restart" 30 $((sockets * 2))

cat <&"$bench_fd" >>"$tmp/bench.progress" &
drain_pids+=($!)
rc=0
wait "$bench_pid" || rc=$?
bench_pid=""
if ! jq -e --argjson n $((sockets * 2)) '
  .ok == true and .drained == true and .verify.ok == true and .verify.lost == 0 and .verify.duplicates == 0
  and .verify.order == 0 and .reconnect == true and .reconnects >= $n and .abandoned_sockets == 0
  and .retries > 0 and .retryable_errors > 0 and .undelivered == 0
  and (.max_delivery_ms | type) == "number" and (.longest_stall_ms | type) == "number"' "$tmp/bench.json" >/dev/null; then
  echo "reconnect_smoke.sh: natter-bench exited $rc; its report is not a clean run across the restarts:" >&2
  cat "$tmp/bench.json" >&2
  exit 1
fi
[[ $rc -eq 0 ]] || fail "natter-bench exited $rc with an ok report"
jq -r '"reconnect_smoke.sh: OK: \(.sent_ok) sent, \(.reconnects) reconnects, \(.retries) retries (\(.retryable_errors) after rate_limited/unavailable), \(.verify.redelivered) redelivered, max delivery \(.max_delivery_ms|floor) ms, longest stall \(.longest_stall_ms|floor) ms"' "$tmp/bench.json"
