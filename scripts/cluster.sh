#!/usr/bin/env bash
# A natter cluster on this machine, on loopback: two Redis, two PostgreSQL 15
# shards, one s3rver (a bucket "natter"), three natterd nodes and HAProxy in
# front of them (docs/OPERATIONS.md, "Running a cluster"). For trying the
# clustered deployment and for the fault tests (tests/cluster); not for
# production: PostgreSQL runs with fsync off and trust authentication, Redis
# keeps nothing on disk, s3rver does not check signatures.
#
#   scripts/cluster.sh up [--dir DIR] [--base-port N]   start it (make cluster: build, then this)
#   scripts/cluster.sh status                           each part, its port, whether it answers; HAProxy's view
#   scripts/cluster.sh down [--keep]                    stop everything; delete DIR unless --keep
#   scripts/cluster.sh env                              shell variables: eval "$(scripts/cluster.sh env)"
#   scripts/cluster.sh seed-users COUNT [PREFIX]        natterd admin seed-users with node 1's config (JSON lines)
#   scripts/cluster.sh kill-node N | start-node N | drain-node N      natterd N: SIGKILL | start | SIGTERM, wait for exit
#   scripts/cluster.sh stop-shard N | start-shard N                   PostgreSQL pg-N
#   scripts/cluster.sh restart-redis N                                Redis redis-N
#
# Every command returns once done, or fails after a deadline; none sleeps a
# fixed time (each part is polled: /readyz, redis-cli ping, pg_isready).
#
# DIR (--dir DIR, or $CLUSTER_DIR; default for `up`: a new temp dir, which
# the other commands then find on their own) holds everything: nodeK.toml
# and nodeK/ (node K's config and data dir), token.key (the nodes' shared
# access-token key), haproxy.cfg, redis-N/, pg/ (the shards' data), s3/ (the
# bucket), cluster.env (ports and paths), logs/ (one log per process) and
# run/ (pid files, HAProxy's stats socket). `up` refuses a DIR where a cluster
# runs; on a DIR left by `down --keep` it starts that cluster again, data and
# ports included.
#
# Ports: 10 in a row, from N = --base-port, or a free block picked at
# random in 20000..32000 (below the kernel's ephemeral ports, so a stopped
# node's port stays free for its restart):
#   N HAProxy   N+1..N+3 natterd 1..3   N+4, N+5 Redis 1, 2
#   N+6, N+7 PostgreSQL 1, 2   N+8 s3rver   N+9 HAProxy's stats page
#
# CLUSTER_BUS=local: the nodes on the in-process bus and presence, no Redis
# settings (Redis still runs): to compare, or with a natterd without them.
#
# CLUSTER_EXTRA_TOML: TOML that `up` appends to each nodeK.toml, for settings
# this script does not write; only tables the file does not already open
# (e.g. [limits]; not [server], [store], [postgres], [bus], [auth], ...).
# scripts/bench-cluster.sh lifts the rate limits with it:
#   CLUSTER_EXTRA_TOML=$'[limits]\nsend_rate = 1000000\nsend_burst = 1000000' scripts/cluster.sh up
#
# Binaries: $NATTERD, $NATTER, $NATTER_BENCH, default build/natterd,
# build/natter, build/natter-bench; PostgreSQL's from $PG_BIN (default
# /usr/lib/postgresql/15/bin). As root, PostgreSQL runs as the user
# `postgres` (it refuses root), as in scripts/pg-shards.sh. When up fails,
# or is interrupted, it stops whatever it started, shows the log of the part
# that failed, and deletes DIR if it made it.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
S3RVER_JS=$root/tests/s3/node_modules/s3rver/bin/s3rver.js
POINTER=${TMPDIR:-/tmp}/natter-cluster.$(id -u).current # the dir of the last `up` that made its own
BUCKET=natter
NODES=3 REDISES=2 SHARDS=2
DRAIN_GRACE=3

say() { echo "cluster.sh: $*" >&2; }
die() {
  say "$*"
  exit 1
}
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

now_ms() {
  local t=${EPOCHREALTIME/[.,]/}
  echo $((t / 1000))
}

# A path as the user would type it: relative to the current directory when under it.
rel() { case $1 in "$PWD"/*) echo "${1#"$PWD"/}" ;; *) echo "$1" ;; esac }

as_pg() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_free() { ! ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }

# ---------------------------------------------------------------- processes

# The pid and start time of the process a pid file names: a pid reused by
# another process, or a zombie (nobody may reap a process killed after its
# parent, this script, exited), is not the component.
proc_stat() { # PID -> "STATE STARTTIME"
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }
  # shellcheck disable=SC2086
  set -- $s
  echo "$1 ${20}"
}

alive() { # NAME: its pid file names a live process
  local pid st state start
  pid=$(cat "$RUN/$1.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  st=$(proc_stat "$pid") || return 1
  read -r state start <<<"$st"
  [[ $state != Z && $state != X ]] || return 1
  [[ $start == "$(cat "$RUN/$1.start" 2>/dev/null)" ]]
}

record_pid() { # NAME PID
  local st
  st=$(proc_stat "$2") || return 1
  echo "$2" >"$RUN/$1.pid"
  echo "${st#* }" >"$RUN/$1.start"
}

# spawn NAME LOG CMD...: CMD in the background in a session of its own (no
# terminal, stdin /dev/null, stdout and stderr appended to LOG), its pid in
# run/NAME.pid. The child writes its own pid before exec, so the pid is the
# program's whatever setsid does.
spawn() {
  local name=$1 log=$2 pid end
  shift 2
  rm -f "$RUN/$name.pid" "$RUN/$name.start" "$RUN/$name.spawn"
  (cd "$DIR" && exec setsid bash -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$RUN/$name.spawn" "$@") \
    </dev/null >>"$log" 2>&1 &
  end=$(($(now_ms) + 5000))
  until [[ -s $RUN/$name.spawn ]]; do
    (($(now_ms) < end)) || { say "$name did not start"; return 1; }
    sleep 0.02
  done
  pid=$(cat "$RUN/$name.spawn")
  rm -f "$RUN/$name.spawn"
  record_pid "$name" "$pid" || { say "$name exited at once:"; tail -n 20 "$log" >&2; return 1; }
}

# wait_for WHAT SECONDS CHECK ARGS...: poll CHECK every 100 ms until it
# succeeds (0). It returning 2 means the process is gone: no use waiting.
wait_for() {
  local what=$1 secs=$2 end rc
  shift 2
  end=$(($(now_ms) + secs * 1000))
  while :; do
    rc=0
    "$@" || rc=$?
    [[ $rc == 0 ]] && return 0
    [[ $rc == 2 ]] && { say "$what: the process exited"; return 1; }
    (($(now_ms) < end)) || { say "$what: not after ${secs}s"; return 1; }
    sleep 0.1
  done
}

# stop NAME SIGNAL SECONDS: send SIGNAL, wait until it is gone; SIGKILL past SECONDS.
signal_proc() { alive "$1" && kill "-$2" "$(cat "$RUN/$1.pid")" 2>/dev/null || true; }
gone() { ! alive "$1"; }
wait_gone() { # NAME SECONDS
  wait_for "$1 to exit" "$2" gone "$1" 2>/dev/null && return 0
  say "$1 did not exit within $2 s: SIGKILL"
  signal_proc "$1" KILL
  wait_for "$1 to exit after SIGKILL" 5 gone "$1"
}
stop_proc() { # NAME SIGNAL SECONDS
  alive "$1" || { rm -f "$RUN/$1.pid" "$RUN/$1.start"; return 0; }
  signal_proc "$1" "$2"
  wait_gone "$1" "$3" || return 1
  rm -f "$RUN/$1.pid" "$RUN/$1.start"
}

log_tail() { # LOG
  [[ -e $1 ]] || return 0
  say "last lines of $(rel "$1"):"
  tail -n 25 "$1" | sed 's/^/    /' >&2
}

# ---------------------------------------------------------------- state

port_var() { # KIND N -> the variable's name: node 2 -> NODE2_PORT
  case $1 in
    node) echo "NODE$2_PORT" ;; redis) echo "REDIS$2_PORT" ;; pg) echo "PG$2_PORT" ;;
  esac
}
port() { local v; v=$(port_var "$1" "$2"); echo "${!v}"; }

set_dir() { # DIR: the cluster's directory and the paths under it
  DIR=$(realpath -m "$1")
  # It goes into HAProxy's config and PostgreSQL's command line unquoted.
  [[ ! $DIR =~ [[:space:]\"\'\\\$\`] ]] || die "$DIR: a directory without spaces, quotes, \\, \$ or \` please"
  RUN=$DIR/run LOGS=$DIR/logs
}

load() {
  [[ -f $DIR/cluster.env ]] || die "no cluster in $DIR (no cluster.env): start one with scripts/cluster.sh up"
  local natterd=${NATTERD:-} natter=${NATTER:-} bench=${NATTER_BENCH:-}
  # shellcheck disable=SC1091
  source "$DIR/cluster.env"
  NATTERD=${natterd:-$NATTERD} NATTER=${natter:-$NATTER} NATTER_BENCH=${bench:-$NATTER_BENCH}
  NATTERD=$(realpath -m "$NATTERD") NATTER=$(realpath -m "$NATTER") NATTER_BENCH=$(realpath -m "$NATTER_BENCH")
}

write_env() {
  local k i
  {
    echo "# scripts/cluster.sh: this cluster's ports and paths (read by every command)"
    printf 'CLUSTER_DIR=%q\n' "$DIR"
    printf 'HAPROXY_PORT=%q\nHAPROXY_STATS_PORT=%q\n' "$HAPROXY_PORT" "$HAPROXY_STATS_PORT"
    for k in $(seq 1 $NODES); do printf 'NODE%s_PORT=%q\n' "$k" "$(port node "$k")"; done
    for i in $(seq 1 $REDISES); do printf 'REDIS%s_PORT=%q\n' "$i" "$(port redis "$i")"; done
    for i in $(seq 1 $SHARDS); do printf 'PG%s_PORT=%q\n' "$i" "$(port pg "$i")"; done
    printf 'S3_PORT=%q\n' "$S3_PORT"
    printf 'PG_DIR=%q\n' "$PG_DIR"
    printf 'NATTERD=%q\nNATTER=%q\nNATTER_BENCH=%q\n' "$NATTERD" "$NATTER" "$NATTER_BENCH"
  } >"$DIR/cluster.env"
}

any_alive() {
  local n
  for n in haproxy s3rver $(seq -f 'node%g' 1 $NODES) $(seq -f 'redis-%g' 1 $REDISES); do
    alive "$n" && return 0
  done
  for n in $(seq 1 $SHARDS); do pg_running "$n" && return 0; done
  return 1
}

# ---------------------------------------------------------------- checks

http_code() { curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null || true; }
redis_answers() { [[ $(timeout 3 redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null) == PONG ]]; }
pg_answers() { "$PG_BIN/pg_isready" -q -t 2 -h 127.0.0.1 -p "$1"; }
s3_answers() { [[ $(http_code "http://127.0.0.1:$S3_PORT/") != 000 ]]; }

node_ready() { # K
  alive "node$1" || return 2
  [[ $(http_code "http://127.0.0.1:$(port node "$1")/readyz") == 200 ]]
}
# Node K has every Redis instance connected (its /metrics; true without Redis).
node_redis_connected() {
  alive "node$1" || return 2
  curl -s -m 2 "http://127.0.0.1:$(port node "$1")/metrics" 2>/dev/null | awk '
    $1 == "natter_redis_instances" { want = $2 } $1 == "natter_redis_connected_instances" { have = $2 }
    END { exit !(want == "" || want == have) }'
}
redis_ready() { alive "redis-$1" || return 2; redis_answers "$(port redis "$1")"; }
s3_ready() { alive s3rver || return 2; s3_answers; }
haproxy_ready() { alive haproxy || return 2; [[ $(http_code "http://127.0.0.1:$HAPROXY_PORT/readyz") == 200 ]]; }

# HAProxy's stats as "server status check" lines, e.g. "node1 UP L7OK/200".
backend_states() {
  curl -s -m 2 "http://127.0.0.1:$HAPROXY_STATS_PORT/;csv" 2>/dev/null | awk -F, '
    NR == 1 { for (i = 1; i <= NF; i++) { h = $i; sub(/^# /, "", h); col[h] = i }; next }
    $1 == "nodes" && $2 != "BACKEND" && $2 != "FRONTEND" {
      chk = $col["check_status"]; if ($col["check_code"] != "") chk = chk "/" $col["check_code"]
      print $2, $col["status"], chk, $col["scur"]
    }'
}
backend_is() { # NODE STATE: HAProxy sees nodeK in STATE (UP, DOWN, ...)
  alive haproxy || return 2
  backend_states | awk -v s="node$1" -v want="$2" '$1 == s && $2 == want { found = 1 } END { exit !found }'
}
all_backends_up() {
  local k
  for k in $(seq 1 $NODES); do backend_is "$k" UP || return $?; done
}

# ---------------------------------------------------------------- Redis

start_redis() { # N
  local i=$1 p
  p=$(port redis "$i")
  port_free "$p" || { say "redis-$i: port $p is taken"; return 1; }
  mkdir -p "$DIR/redis-$i"
  # Nothing on disk: a restarted Redis comes back empty, as the nodes must survive.
  spawn "redis-$i" "$LOGS/redis-$i.log" redis-server --bind 127.0.0.1 --port "$p" --dir "$DIR/redis-$i" \
    --save '' --appendonly no --daemonize no --logfile '' || return 1
  wait_for "redis-$i to answer PING on :$p" 15 redis_ready "$i" || { log_tail "$LOGS/redis-$i.log"; return 1; }
  say "redis-$i answers on 127.0.0.1:$p"
}

# ---------------------------------------------------------------- PostgreSQL

pg_data() { echo "$PG_DIR/pg-$1/data"; }
pg_running() { [[ -f $(pg_data "$1")/postmaster.pid ]] && as_pg "$PG_BIN/pg_ctl" -D "$(pg_data "$1")" status >/dev/null 2>&1; }

# The shards' directory: DIR/pg, owned by postgres when root. When the user
# postgres cannot reach DIR (a parent directory it may not enter, like a
# mkdtemp dir), the data goes to a directory of its own beside the temp dirs,
# DIR/pg a link to it; `down` deletes both.
setup_pg_dir() {
  [[ -n ${PG_DIR:-} ]] && return 0
  PG_DIR=$DIR/pg
  mkdir -p "$PG_DIR"
  if [[ $(id -u) -eq 0 ]]; then
    chown postgres: "$PG_DIR"
    if ! runuser -u postgres -- test -w "$PG_DIR" 2>/dev/null; then
      rmdir "$PG_DIR"
      PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/natter-cluster-pg.XXXXXX")
      chown postgres: "$PG_DIR"
      ln -s "$PG_DIR" "$DIR/pg"
      say "the user postgres cannot enter $DIR: the shards' data is in $PG_DIR (DIR/pg links to it)"
    fi
  fi
}

init_shards() {
  local i missing=0
  for i in $(seq 1 $SHARDS); do [[ -d $(pg_data "$i") ]] || missing=1; done
  ((missing)) || return 0
  [[ -x $PG_BIN/initdb ]] || die "no PostgreSQL 15 in $PG_BIN: apt-get install postgresql-15 (or set PG_BIN)"
  # One initdb, copied: most of start-up is creating files.
  as_pg "$PG_BIN/initdb" -D "$PG_DIR/template" -U postgres -A trust -E UTF8 --no-locale --no-sync \
    >"$LOGS/initdb.log" 2>&1 || { log_tail "$LOGS/initdb.log"; return 1; }
  for i in $(seq 1 $SHARDS); do
    [[ -d $(pg_data "$i") ]] && continue
    as_pg mkdir -p "$PG_DIR/pg-$i"
    as_pg cp -a "$PG_DIR/template" "$(pg_data "$i")"
  done
  rm -rf "$PG_DIR/template"
}

start_shard() { # N
  local i=$1 p log
  p=$(port pg "$i") log=$PG_DIR/pg-$i/postgres.log
  pg_running "$i" && { say "pg-$i already runs"; return 1; }
  port_free "$p" || { say "pg-$i: port $p is taken"; return 1; }
  # The log beside the data (DIR/logs may be out of postgres's reach), linked into logs/.
  ln -sfn "$log" "$LOGS/pg-$i.log"
  # No unix socket (DIR may be too long a path for one): TCP on 127.0.0.1 only.
  as_pg "$PG_BIN/pg_ctl" -D "$(pg_data "$i")" -l "$log" -s -w -t 60 -o \
    "-c listen_addresses=127.0.0.1 -p $p -c unix_socket_directories= -c fsync=off -c full_page_writes=off -c synchronous_commit=on -c max_connections=200 -c shared_buffers=128MB" \
    start || { say "pg-$i did not start"; log_tail "$log"; return 1; }
  wait_for "pg-$i to accept connections on :$p" 30 pg_answers "$p" || { log_tail "$log"; return 1; }
  record_pid "pg-$i" "$(head -n 1 "$(pg_data "$i")/postmaster.pid")" || true
  if [[ ! -f $PG_DIR/pg-$i/created ]]; then
    as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$p" -U postgres natter || { say "pg-$i: createdb natter failed"; return 1; }
    as_pg touch "$PG_DIR/pg-$i/created"
  fi
  say "pg-$i accepts connections on 127.0.0.1:$p (database natter)"
}

stop_shard() { # N
  local i=$1
  pg_running "$i" || { rm -f "$RUN/pg-$i.pid" "$RUN/pg-$i.start"; return 0; }
  as_pg "$PG_BIN/pg_ctl" -D "$(pg_data "$i")" -s -m fast -w -t 30 stop \
    || as_pg "$PG_BIN/pg_ctl" -D "$(pg_data "$i")" -s -m immediate -w -t 30 stop || return 1
  rm -f "$RUN/pg-$i.pid" "$RUN/pg-$i.start"
}

# ---------------------------------------------------------------- s3rver

start_s3() {
  port_free "$S3_PORT" || { say "s3rver: port $S3_PORT is taken"; return 1; }
  mkdir -p "$DIR/s3"
  # CORS, so that the web client (served through HAProxy) may PUT and GET
  # the images straight to the bucket, as with a real S3.
  cat >"$DIR/s3-cors.xml" <<'EOF'
<CORSConfiguration>
  <CORSRule>
    <AllowedOrigin>*</AllowedOrigin>
    <AllowedMethod>GET</AllowedMethod>
    <AllowedMethod>HEAD</AllowedMethod>
    <AllowedMethod>PUT</AllowedMethod>
    <AllowedHeader>*</AllowedHeader>
    <ExposeHeader>ETag</ExposeHeader>
    <MaxAgeSeconds>3000</MaxAgeSeconds>
  </CORSRule>
</CORSConfiguration>
EOF
  spawn s3rver "$LOGS/s3rver.log" node "$S3RVER_JS" --directory "$DIR/s3" --address 127.0.0.1 \
    --port "$S3_PORT" --configure-bucket "$BUCKET" "$DIR/s3-cors.xml" || return 1
  wait_for "s3rver to answer on :$S3_PORT" 30 s3_ready || { log_tail "$LOGS/s3rver.log"; return 1; }
  say "s3rver answers on http://127.0.0.1:$S3_PORT (bucket $BUCKET)"
}

# ---------------------------------------------------------------- natterd

write_node_configs() {
  local k i shards=() redis=() key_line bus_lines
  for i in $(seq 1 $SHARDS); do shards+=("\"pg-$i=host=127.0.0.1 port=$(port pg "$i") dbname=natter user=postgres\""); done
  for i in $(seq 1 $REDISES); do redis+=("\"redis-$i=127.0.0.1:$(port redis "$i")\""); done
  key_line="token_key_file = \"$DIR/token.key\""
  if [[ ${CLUSTER_BUS:-redis} == redis ]]; then
    bus_lines=$(printf '[bus]\nadapter = "redis"\n[presence]\nadapter = "redis"\n[redis]\ninstances = [%s]' "$(IFS=,; echo "${redis[*]}" | sed 's/","/", "/g')")
    CLUSTER_BUS=redis
  else
    say "warning: CLUSTER_BUS=local:"
    say "  bus.adapter = \"local\": a message reaches a device on another node only from its inbox, at its next connect"
    bus_lines=$(printf '[bus]\nadapter = "local"')
    CLUSTER_BUS=local
  fi
  for k in $(seq 1 $NODES); do
    mkdir -p "$DIR/node$k"
    (
      umask 077
      cat >"$DIR/node$k.toml" <<EOF
# natterd node $k of the cluster in $DIR (written by scripts/cluster.sh up).
# A commented production example: deploy/cluster.toml.
[server]
listen = "127.0.0.1:$(port node "$k")"
data = "$DIR/node$k"
node_id = $k
drain_grace = $DRAIN_GRACE
[store]
adapter = "postgres"
[postgres]
shards = [$(IFS=,; echo "${shards[*]}" | sed 's/","/", "/g')]
$bus_lines
[auth]
$key_line
[blobs]
adapter = "s3"
[s3]
endpoint = "http://127.0.0.1:$S3_PORT"
bucket = "$BUCKET"
access_key_id = "S3RVER"
secret_access_key = "S3RVER"
[web]
root = "$root/web/dist"
EOF
      if [[ -n ${CLUSTER_EXTRA_TOML:-} ]]; then
        printf '# From CLUSTER_EXTRA_TOML:\n%s\n' "$CLUSTER_EXTRA_TOML" >>"$DIR/node$k.toml"
      fi
    )
  done
}

natterd_env() { # env(1) arguments: no NATTER_* setting of the caller's shell overrides the file
  local v
  echo env
  for v in $(compgen -e); do [[ $v == NATTER_* ]] && echo "-u" && echo "$v"; done
  return 0
}

start_node() { # K
  local k=$1 p
  p=$(port node "$k")
  alive "node$k" && { say "node$k already runs"; return 1; }
  port_free "$p" || { say "node$k: port $p is taken"; return 1; }
  local -a envcmd
  mapfile -t envcmd < <(natterd_env)
  spawn "node$k" "$LOGS/node$k.log" "${envcmd[@]}" "$NATTERD" --config "$DIR/node$k.toml" || return 1
  wait_for "node$k to be ready (/readyz on :$p)" 90 node_ready "$k" || { log_tail "$LOGS/node$k.log"; return 1; }
  wait_for "node$k to connect to every Redis" 30 node_redis_connected "$k" || { log_tail "$LOGS/node$k.log"; return 1; }
  say "node$k ready on http://127.0.0.1:$p"
}

# ---------------------------------------------------------------- HAProxy

write_haproxy_cfg() {
  local k stats_socket="$RUN/haproxy.sock" maxconn=20000 hard
  # Two descriptors per connection (client and node): within the hard limit.
  hard=$(ulimit -Hn)
  [[ $hard == unlimited ]] || ((maxconn = (hard - 100) / 2 < maxconn ? (hard - 100) / 2 : maxconn))
  if ((${#stats_socket} > 100)); then
    say "warning: $stats_socket is too long a path for a unix socket: no stats socket (the stats page remains)"
    stats_socket=
  fi
  {
    cat <<EOF
# HAProxy in front of the three natterd of the cluster in $DIR
# (written by scripts/cluster.sh up; the commented design: deploy/haproxy.cfg).
global
    log stdout format raw local0 info
    maxconn $maxconn
EOF
    [[ -n $stats_socket ]] && echo "    stats socket $stats_socket mode 600 level admin"
    cat <<EOF

defaults
    mode http
    log global
    # httplog's fields with the path only: the ticket in ?ticket= stays out of the log
    log-format "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}HM %{+Q}HPO"
    option dontlognull
    option forwardfor
    option redispatch
    retries 3
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    timeout http-request 10s

frontend natter
    bind 127.0.0.1:$HAPROXY_PORT
    default_backend nodes

# A user's sockets (/v1/ws?user=<id>) hash to one node; the rest round robin.
backend nodes
    balance url_param user
    hash-type consistent
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 1s fall 2 rise 2
EOF
    for k in $(seq 1 $NODES); do echo "    server node$k 127.0.0.1:$(port node "$k") check"; done
    cat <<EOF

frontend stats
    bind 127.0.0.1:$HAPROXY_STATS_PORT
    no log
    stats enable
    stats uri /
    stats refresh 2s
EOF
  } >"$DIR/haproxy.cfg"
}

start_haproxy() {
  command -v haproxy >/dev/null || { say "no haproxy: apt-get install haproxy"; return 1; }
  port_free "$HAPROXY_PORT" || { say "haproxy: port $HAPROXY_PORT is taken"; return 1; }
  port_free "$HAPROXY_STATS_PORT" || { say "haproxy: port $HAPROXY_STATS_PORT is taken"; return 1; }
  haproxy -c -q -f "$DIR/haproxy.cfg" >"$LOGS/haproxy-check.log" 2>&1 \
    || { say "haproxy refuses $DIR/haproxy.cfg"; log_tail "$LOGS/haproxy-check.log"; return 1; }
  rm -f "$LOGS/haproxy-check.log"
  spawn haproxy "$LOGS/haproxy.log" haproxy -db -f "$DIR/haproxy.cfg" || return 1
  wait_for "HAProxy to pass /readyz on :$HAPROXY_PORT" 20 haproxy_ready || { log_tail "$LOGS/haproxy.log"; return 1; }
  wait_for "HAProxy to see every node UP" 30 all_backends_up || { log_tail "$LOGS/haproxy.log"; return 1; }
  say "HAProxy on http://127.0.0.1:$HAPROXY_PORT, every node UP"
}

# ---------------------------------------------------------------- all

stop_all() {
  local k i
  stop_proc haproxy TERM 10 || true
  # SIGINT: natterd stops like on SIGTERM but without the drain grace.
  for k in $(seq 1 $NODES); do signal_proc "node$k" INT; done
  for k in $(seq 1 $NODES); do
    wait_gone "node$k" 20 || true
    rm -f "$RUN/node$k.pid" "$RUN/node$k.start"
  done
  stop_proc s3rver TERM 10 || true
  if [[ -n ${PG_DIR:-} ]]; then for i in $(seq 1 $SHARDS); do stop_shard "$i" || true; done; fi
  for i in $(seq 1 $REDISES); do stop_proc "redis-$i" TERM 10 || true; done
}

# Ten ports in a row from $1, all free.
block_free() {
  local p
  for p in $(seq "$1" $(($1 + 9))); do port_free "$p" || return 1; done
}

choose_ports() {
  local base=${1:-}
  if [[ -z $base ]]; then
    for _ in $(seq 1 100); do
      base=$((20000 + (RANDOM % 1200) * 10))
      block_free "$base" && break
      base=
    done
    [[ -n $base ]] || die "no 10 free ports in a row found in 20000..32000: give --base-port N"
  else
    [[ $base =~ ^[0-9]+$ ]] && ((base >= 1024 && base <= 65525)) || die "--base-port: a number in 1024..65525"
    local p
    for p in $(seq "$base" $((base + 9))); do port_free "$p" || die "port $p (--base-port $base .. $((base + 9))) is taken"; done
  fi
  HAPROXY_PORT=$base
  # shellcheck disable=SC2034 # read through port()
  NODE1_PORT=$((base + 1)) NODE2_PORT=$((base + 2)) NODE3_PORT=$((base + 3))
  # shellcheck disable=SC2034
  REDIS1_PORT=$((base + 4)) REDIS2_PORT=$((base + 5))
  # shellcheck disable=SC2034
  PG1_PORT=$((base + 6)) PG2_PORT=$((base + 7))
  S3_PORT=$((base + 8)) HAPROXY_STATS_PORT=$((base + 9))
}

check_tools() {
  local missing=() t
  for t in redis-server redis-cli haproxy node curl ss runuser; do command -v "$t" >/dev/null || missing+=("$t"); done
  if ((${#missing[@]})); then
    local pkgs
    pkgs=$(printf '%s\n' "${missing[@]}" | sed 's/^redis-.*/redis-server/; s/^node$/nodejs/; s/^ss$/iproute2/; s/^runuser$/util-linux/' | sort -u | paste -sd' ')
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
      say "installing $pkgs"
      apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null \
        || die "could not install $pkgs"
    else
      die "missing ${missing[*]}: install $pkgs (apt-get install $pkgs)"
    fi
  fi
  [[ -x $PG_BIN/pg_ctl ]] || die "no PostgreSQL 15 in $PG_BIN: apt-get install postgresql-15 (or set PG_BIN)"
  [[ -f $S3RVER_JS ]] || die "no s3rver in tests/s3/node_modules: run scripts/deps.sh (make cluster does)"
  [[ -x $NATTERD ]] || die "no natterd at $NATTERD: build it (make cluster does) or set NATTERD"
  [[ -d $root/web/dist ]] || say "warning: no web/dist: the nodes serve no web client (make web builds it)"
}

cmd_up() {
  local resume=0
  MADE_DIR=0
  [[ -n $DIR_ARG ]] || DIR_ARG=$(mktemp -d "${TMPDIR:-/tmp}/natter-cluster.XXXXXX") MADE_DIR=1
  set_dir "$DIR_ARG"
  if [[ -f $DIR/cluster.env ]]; then
    load
    any_alive && die "a cluster runs in $DIR: scripts/cluster.sh down --dir $DIR first (or status)"
    [[ -z $BASE_PORT || $BASE_PORT == "$HAPROXY_PORT" ]] || die "$DIR was a cluster on ports $HAPROXY_PORT..: --base-port cannot change them"
    resume=1
    say "starting the cluster kept in $DIR again"
  else
    if [[ -d $DIR ]] && ((MADE_DIR == 0)) && [[ -n $(ls -A "$DIR") ]]; then
      die "$DIR is not empty and holds no cluster: give a new or empty directory"
    fi
    mkdir -p "$DIR"
    NATTERD=$(realpath -m "${NATTERD:-$root/build/natterd}")
    NATTER=$(realpath -m "${NATTER:-$root/build/natter}")
    NATTER_BENCH=$(realpath -m "${NATTER_BENCH:-$root/build/natter-bench}")
    PG_DIR=
  fi
  # From here on, a failure or an interrupt stops whatever started.
  UP_DONE=0
  trap 'up_failed $?' EXIT
  trap 'exit 130' INT TERM HUP
  if ((MADE_DIR)); then echo "$DIR" >"$POINTER" || say "warning: cannot write $POINTER: give --dir $DIR to the other commands"; fi
  check_tools
  # postgres enters DIR to reach DIR/pg; nobody else may list it.
  chmod 711 "$DIR"
  mkdir -p "$RUN" "$LOGS"
  if ((!resume)); then
    choose_ports "$BASE_PORT"
    (
      umask 077
      head -c 48 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=' >"$DIR/token.key"
      echo >>"$DIR/token.key"
    )
  fi
  setup_pg_dir
  write_env
  local t0 i k
  t0=$(now_ms)
  for i in $(seq 1 $REDISES); do start_redis "$i"; done
  init_shards
  for i in $(seq 1 $SHARDS); do start_shard "$i"; done
  start_s3
  write_node_configs
  # The first node migrates the shards alone; then the other two together.
  start_node 1
  local -a pids=()
  local failed=0
  for k in $(seq 2 $NODES); do
    start_node "$k" &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || failed=1; done
  ((!failed)) || exit 1
  write_haproxy_cfg
  start_haproxy
  UP_DONE=1
  trap - EXIT INT TERM HUP
  say "up in $(( ($(now_ms) - t0) / 1000 )) s"
  summary
}

up_failed() {
  local rc=$1
  trap - EXIT INT TERM HUP
  ((UP_DONE)) && exit "$rc"
  ((rc == 0)) && rc=1
  say "up failed: stopping what it started"
  stop_all
  if ((MADE_DIR)); then
    remove_dir
    say "deleted $DIR"
  else
    say "logs in $DIR/logs; delete it all with: scripts/cluster.sh down --dir $DIR"
  fi
  exit "$rc"
}

remove_dir() {
  if [[ -n ${PG_DIR:-} && $PG_DIR != "$DIR/pg" && -d $PG_DIR ]]; then rm -rf "$PG_DIR"; fi
  rm -rf "$DIR"
  [[ -f $POINTER && $(cat "$POINTER") == "$DIR" ]] && rm -f "$POINTER"
  return 0
}

summary() {
  local d="" natter k
  natter=$(rel "$NATTER")
  [[ -f $POINTER && $(cat "$POINTER") == "$DIR" && -z ${CLUSTER_DIR:-} ]] || d=" --dir $DIR"
  cat <<END_OF_SUMMARY

natter cluster up: open http://127.0.0.1:$HAPROXY_PORT

  HAProxy   http://127.0.0.1:$HAPROXY_PORT  (stats: http://127.0.0.1:$HAPROXY_STATS_PORT/)
  natterd   $(for k in $(seq 1 $NODES); do printf 'node%s :%s  ' "$k" "$(port node "$k")"; done)(bus: $CLUSTER_BUS)
  Redis     $(for k in $(seq 1 $REDISES); do printf 'redis-%s :%s  ' "$k" "$(port redis "$k")"; done)
  Postgres  $(for k in $(seq 1 $SHARDS); do printf 'pg-%s :%s  ' "$k" "$(port pg "$k")"; done)
  s3rver    http://127.0.0.1:$S3_PORT  (bucket $BUCKET)
  files     $DIR  (logs/, run/, nodeK.toml, haproxy.cfg)

Two users with the CLI, through HAProxy (their logins kept in the cluster's dir):
  export NATTER_SERVER=http://127.0.0.1:$HAPROXY_PORT NATTER_CONFIG_DIR=$DIR/cli
  NATTER_PASSWORD='correct horse' $natter --profile alice register alice
  NATTER_PASSWORD='correct horse' $natter --profile alice login alice
  NATTER_PASSWORD='battery staple' $natter --profile bob register bob
  NATTER_PASSWORD='battery staple' $natter --profile bob login bob
  $natter --profile alice send bob hi bob
  $natter --profile bob listen --count 1
  $natter --profile bob chat alice          # both ways; /quit leaves

END_OF_SUMMARY
  printf '  %-46s # %s\n' "scripts/cluster.sh status$d" "each part, and HAProxy's view of the nodes" \
    "scripts/cluster.sh kill-node 2$d" "also start-node, drain-node, stop-shard, start-shard, restart-redis" \
    "eval \"\$(scripts/cluster.sh env$d)\"" "the ports as variables"
  echo "Stop it:"
  printf '  %-46s # %s\n' "scripts/cluster.sh down$d" "--keep keeps $DIR"
}

cmd_down() {
  if [[ ! -e $DIR ]]; then
    say "no cluster in $DIR: nothing to stop"
    [[ -f $POINTER && $(cat "$POINTER") == "$DIR" ]] && rm -f "$POINTER"
    return 0
  fi
  load
  stop_all
  if ((KEEP)); then
    say "stopped; kept $DIR (scripts/cluster.sh up --dir $DIR starts it again)"
  else
    remove_dir
    say "stopped; deleted $DIR"
  fi
}

cmd_status() {
  load
  local bad=0 k i p state pid
  row() { printf '%-10s %-7s %-8s %s\n' "$@"; }
  pidof_() { cat "$RUN/$1.pid" 2>/dev/null || echo -; }
  echo "cluster in $DIR"
  row part port pid state
  if alive haproxy; then
    p=$(http_code "http://127.0.0.1:$HAPROXY_PORT/readyz")
    if [[ $p == 200 ]]; then state="answers (/readyz through it: 200)"; else state="runs, /readyz through it: $p"; bad=1; fi
  else state="down"; bad=1; fi
  row haproxy ":$HAPROXY_PORT" "$(alive haproxy && pidof_ haproxy || echo -)" "$state"
  for k in $(seq 1 $NODES); do
    p=$(port node "$k")
    if alive "node$k"; then
      case $(http_code "http://127.0.0.1:$p/readyz") in
        200) state="ready (/readyz 200)" ;;
        503) state="not ready (/readyz 503: draining, or its store does not answer; see its log)"; bad=1 ;;
        000) state="runs, does not answer"; bad=1 ;;
        *) state="runs, /readyz $(http_code "http://127.0.0.1:$p/readyz")"; bad=1 ;;
      esac
      pid=$(pidof_ "node$k")
    else state="down"; pid=-; bad=1; fi
    row "node$k" ":$p" "$pid" "$state"
  done
  for i in $(seq 1 $REDISES); do
    p=$(port redis "$i")
    if alive "redis-$i" && redis_answers "$p"; then state="answers (PONG)"; pid=$(pidof_ "redis-$i")
    elif alive "redis-$i"; then state="runs, does not answer PING"; pid=$(pidof_ "redis-$i"); bad=1
    else state="down"; pid=-; bad=1; fi
    row "redis-$i" ":$p" "$pid" "$state"
  done
  for i in $(seq 1 $SHARDS); do
    p=$(port pg "$i")
    if pg_answers "$p"; then state="accepts connections"; pid=$(pidof_ "pg-$i")
    elif pg_running "$i"; then state="runs, does not accept connections"; pid=$(pidof_ "pg-$i"); bad=1
    else state="down"; pid=-; bad=1; fi
    row "pg-$i" ":$p" "$pid" "$state"
  done
  if alive s3rver && s3_answers; then state="answers (bucket $BUCKET)"; pid=$(pidof_ s3rver)
  elif alive s3rver; then state="runs, does not answer"; pid=$(pidof_ s3rver); bad=1
  else state="down"; pid=-; bad=1; fi
  row s3rver ":$S3_PORT" "$pid" "$state"
  echo
  if alive haproxy; then
    echo "HAProxy's view of the nodes (http://127.0.0.1:$HAPROXY_STATS_PORT/):"
    backend_states | awk '{ printf "  %-8s %-10s check %-10s sessions %s\n", $1, $2, $3, $4 }'
  else
    echo "HAProxy is down: no view of the nodes"
  fi
  return $bad
}

cmd_env() {
  load
  local k i
  printf 'export CLUSTER_DIR=%q\n' "$DIR"
  printf 'export HAPROXY_PORT=%q\n' "$HAPROXY_PORT"
  printf 'export HAPROXY_STATS_PORT=%q\n' "$HAPROXY_STATS_PORT"
  for k in $(seq 1 $NODES); do printf 'export NODE%s_PORT=%q\n' "$k" "$(port node "$k")"; done
  for i in $(seq 1 $REDISES); do printf 'export REDIS%s_PORT=%q\n' "$i" "$(port redis "$i")"; done
  for i in $(seq 1 $SHARDS); do printf 'export PG%s_PORT=%q\n' "$i" "$(port pg "$i")"; done
  printf 'export S3_PORT=%q\n' "$S3_PORT"
  for k in $(seq 1 $NODES); do printf 'export NODE_CONFIG_%s=%q\n' "$k" "$DIR/node$k.toml"; done
  printf 'export NATTERD=%q\nexport NATTER=%q\nexport NATTER_BENCH=%q\n' "$NATTERD" "$NATTER" "$NATTER_BENCH"
  printf 'export NATTER_SERVER=%q\n' "http://127.0.0.1:$HAPROXY_PORT"
}

need_n() { # MAX: the one argument N, 1..MAX
  [[ ${#ARGS[@]} -eq 1 && ${ARGS[0]} =~ ^[0-9]+$ ]] && ((ARGS[0] >= 1 && ARGS[0] <= $1)) \
    || die "$CMD N: N is 1..$1"
  N=${ARGS[0]}
}

cmd_kill_node() {
  need_n $NODES
  load
  alive "node$N" || die "node$N is not running"
  signal_proc "node$N" KILL
  wait_for "node$N to die" 10 gone "node$N" || die "node$N survived SIGKILL"
  rm -f "$RUN/node$N.pid" "$RUN/node$N.start"
  say "node$N killed (SIGKILL)"
  haproxy_sees_down
}

# Done when HAProxy sends the node no more clients (its checks: fall 2, inter 1s).
haproxy_sees_down() {
  alive haproxy || return 0
  wait_for "HAProxy to mark node$N DOWN" 20 backend_is "$N" DOWN || die "HAProxy does not see node$N DOWN"
  say "HAProxy sees node$N DOWN"
}

cmd_start_node() {
  need_n $NODES
  load
  start_node "$N" || die "node$N did not start"
  # Done when HAProxy sends it clients again.
  if alive haproxy; then
    wait_for "HAProxy to see node$N UP" 30 backend_is "$N" UP || die "HAProxy does not see node$N UP"
    say "HAProxy sees node$N UP"
  fi
}

cmd_drain_node() {
  need_n $NODES
  load
  alive "node$N" || die "node$N is not running"
  local t0
  t0=$(now_ms)
  signal_proc "node$N" TERM
  # The grace, up to 2 s of close handshakes, the accepted sends' commits.
  wait_for "node$N to drain and exit" $((DRAIN_GRACE + 30)) gone "node$N" || die "node$N did not exit after SIGTERM"
  rm -f "$RUN/node$N.pid" "$RUN/node$N.start"
  say "node$N drained and exited in $(($(now_ms) - t0)) ms"
  haproxy_sees_down
}

cmd_stop_shard() {
  need_n $SHARDS
  load
  pg_running "$N" || die "pg-$N is not running"
  stop_shard "$N" || die "pg-$N did not stop"
  say "pg-$N stopped"
}

cmd_start_shard() {
  need_n $SHARDS
  load
  start_shard "$N" || die "pg-$N did not start"
}

cmd_restart_redis() {
  need_n $REDISES
  load
  local k before=()
  for k in $(seq 1 $NODES); do before[k]=$(node_redis_reconnects "$k"); done
  stop_proc "redis-$N" TERM 10 || die "redis-$N did not stop"
  start_redis "$N" || die "redis-$N did not start"
  # Done when every running node has reconnected (its reconnect count went
  # up) and has every instance connected.
  for k in $(seq 1 $NODES); do
    alive "node$k" || continue
    [[ -n ${before[k]} ]] || continue
    wait_for "node$k to reconnect to redis-$N" 30 node_redis_back "$k" "${before[k]}" \
      || die "node$k did not reconnect to redis-$N"
  done
  say "every running node has reconnected to redis-$N"
}

node_redis_reconnects() { # K: natter_redis_reconnects_total, "" when node K does not answer or has no Redis
  alive "node$1" || return 0
  curl -s -m 2 "http://127.0.0.1:$(port node "$1")/metrics" 2>/dev/null \
    | awk '$1 == "natter_redis_reconnects_total" { print $2 }'
}
node_redis_back() { # K BEFORE
  local now
  alive "node$1" || return 2
  now=$(node_redis_reconnects "$1")
  [[ -n $now ]] && awk -v a="$now" -v b="$2" 'BEGIN { exit !(a > b) }' && node_redis_connected "$1"
}

cmd_seed_users() {
  [[ ${#ARGS[@]} -ge 1 && ${#ARGS[@]} -le 2 && ${ARGS[0]} =~ ^[0-9]+$ ]] || die "seed-users COUNT [PREFIX]"
  load
  local -a envcmd
  mapfile -t envcmd < <(natterd_env)
  "${envcmd[@]}" "$NATTERD" --config "$DIR/node1.toml" --node-id 1023 admin seed-users --count "${ARGS[0]}" --prefix "${ARGS[1]:-user}" \
    2>>"$LOGS/seed-users.log" || { log_tail "$LOGS/seed-users.log"; die "seed-users failed"; }
}

# ---------------------------------------------------------------- main

CMD=${1:-}
[[ $# -gt 0 ]] && shift
DIR_ARG=${CLUSTER_DIR:-} BASE_PORT='' KEEP=0 ARGS=()
while (($#)); do
  case $1 in
    --dir) [[ $# -ge 2 ]] || die "--dir DIR"; DIR_ARG=$2; shift 2 ;;
    --dir=*) DIR_ARG=${1#--dir=}; shift ;;
    --base-port) [[ $# -ge 2 ]] || die "--base-port N"; BASE_PORT=$2; shift 2 ;;
    --base-port=*) BASE_PORT=${1#--base-port=}; shift ;;
    --keep) KEEP=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; ARGS+=("$@"); break ;;
    -*) die "unknown option $1 (try --help)" ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
[[ -z $BASE_PORT || $CMD == up ]] || die "--base-port is for up"
[[ $KEEP == 0 || $CMD == down ]] || die "--keep is for down"

case $CMD in
  up)
    [[ ${#ARGS[@]} -eq 0 ]] || die "up takes no arguments (try --help)"
    cmd_up
    exit 0
    ;;
  -h | --help | help) usage; exit 0 ;;
  "") usage >&2; exit 2 ;;
esac

# Every other command: the cluster of --dir, $CLUSTER_DIR, or the last `up` that made its own dir.
if [[ -z $DIR_ARG ]]; then
  [[ -f $POINTER ]] || die "which cluster? give --dir DIR (or CLUSTER_DIR): only a cluster that \`up\` started in a temp dir of its own is found without it"
  DIR_ARG=$(cat "$POINTER")
fi
set_dir "$DIR_ARG"
case $CMD in
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  seed-users) cmd_seed_users ;;
  kill-node) cmd_kill_node ;;
  start-node) cmd_start_node ;;
  drain-node) cmd_drain_node ;;
  stop-shard) cmd_stop_shard ;;
  start-shard) cmd_start_shard ;;
  restart-redis) cmd_restart_redis ;;
  *) die "unknown command $CMD (try --help)" ;;
esac
