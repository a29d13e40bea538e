#!/usr/bin/env bash
# Throwaway PostgreSQL 15 shards on this machine, for trying and measuring
# natterd on `--store postgres` (docs/OPERATIONS.md, docs/BENCHMARKS.md).
# Not for production: fsync and full_page_writes are off, trust auth.
#
#   scripts/pg-shards.sh up N        start N servers (pg-1..pg-N) and create database `natter` on each;
#                                    prints the shard list, one NAME=CONNINFO a line
#   scripts/pg-shards.sh db NAME     create database NAME on every running shard; prints its shard list
#   scripts/pg-shards.sh list [NAME] the shard list (of database NAME, default natter)
#   scripts/pg-shards.sh env [NAME]  the list as NATTER_POSTGRES_SHARDS=... (';' between entries)
#   scripts/pg-shards.sh down        stop every server and delete the directory
#
# Then, e.g.:
#   scripts/pg-shards.sh up 3
#   eval "$(scripts/pg-shards.sh env)"   # NATTER_POSTGRES_SHARDS='pg-1=host=127.0.0.1 port=…;pg-2=…;pg-3=…'
#   build/natterd --store postgres --node-id 1 --data /tmp/natter-pg-data
#
# Everything lives in $NATTER_PG_SHARDS_DIR (default /dev/shm/natter-pg-shards,
# else /tmp/natter-pg-shards when /dev/shm is missing): one directory per
# shard with its data, its unix socket and postgres.log. Each listens on
# 127.0.0.1 only, on a free port from $NATTER_PG_PORT (default 25432) up.
# Run as root, the servers run as the user `postgres` (PostgreSQL refuses
# root); binaries from $PG_BIN (default /usr/lib/postgresql/15/bin).
# $NATTER_PG_OPTIONS adds server settings ("-c name=value ...").
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
if [[ -z ${NATTER_PG_SHARDS_DIR:-} ]]; then
  if [[ -d /dev/shm && -w /dev/shm ]]; then NATTER_PG_SHARDS_DIR=/dev/shm/natter-pg-shards; else NATTER_PG_SHARDS_DIR=/tmp/natter-pg-shards; fi
fi
dir=$NATTER_PG_SHARDS_DIR
user=natter

as_pg() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_free() { ! ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }

shards() { ls -d "$dir"/pg-* 2>/dev/null | sort -V; }

list() {
  local db=${1:-natter} s
  for s in $(shards); do
    echo "$(basename "$s")=host=127.0.0.1 port=$(cat "$s/port") dbname=$db user=$user"
  done
}

createdb_all() {
  local db=$1 s
  for s in $(shards); do
    as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$(cat "$s/port")" -U "$user" "$db"
  done
}

up() {
  local n=$1 i port=${NATTER_PG_PORT:-25432}
  [[ $n =~ ^[0-9]+$ && $n -ge 1 ]] || { echo "pg-shards.sh: up N, N >= 1" >&2; exit 2; }
  [[ -e $dir ]] && { echo "pg-shards.sh: $dir exists: 'down' first" >&2; exit 2; }
  mkdir -p "$dir"
  [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
  # One initdb, copied: most of start-up is creating files.
  as_pg "$PG_BIN/initdb" -D "$dir/template" -U "$user" -A trust -E UTF8 --no-locale --no-sync >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  for i in $(seq 1 "$n"); do
    while ! port_free "$port"; do port=$((port + 1)); done
    as_pg mkdir -p "$dir/pg-$i"
    as_pg cp -a "$dir/template" "$dir/pg-$i/data"
    echo "$port" | as_pg tee "$dir/pg-$i/port" >/dev/null
    as_pg "$PG_BIN/pg_ctl" -D "$dir/pg-$i/data" -l "$dir/pg-$i/postgres.log" -s -o \
      "-c listen_addresses=127.0.0.1 -p $port -k $dir/pg-$i -c fsync=off -c full_page_writes=off -c synchronous_commit=on -c max_connections=200 -c shared_buffers=128MB ${NATTER_PG_OPTIONS:-}" \
      start
    port=$((port + 1))
  done
  for i in $(seq 1 "$n"); do
    local p; p=$(cat "$dir/pg-$i/port")
    for _ in $(seq 1 100); do
      as_pg "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$p" && break
      sleep 0.1
    done
    as_pg "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$p" \
      || { echo "pg-shards.sh: pg-$i did not start:" >&2; tail -n 20 "$dir/pg-$i/postgres.log" >&2; exit 1; }
  done
  createdb_all natter
  list natter
}

down() {
  local s
  for s in $(shards); do
    [[ -f $s/data/postmaster.pid ]] && as_pg "$PG_BIN/pg_ctl" -D "$s/data" -s -m fast -w stop || true
  done
  rm -rf "$dir"
}

case ${1:-} in
  up) up "${2:-}" ;;
  db) [[ -n ${2:-} ]] || { echo "pg-shards.sh: db NAME" >&2; exit 2; }; createdb_all "$2"; list "$2" ;;
  list) list "${2:-natter}" ;;
  env) entries=$(list "${2:-natter}" | paste -sd';'); printf 'export NATTER_POSTGRES_SHARDS=%q\n' "$entries" ;;
  down) down ;;
  -h|--help) sed -n '2,24p' "$0" ;;
  *) echo "pg-shards.sh: up N | db NAME | list [NAME] | env [NAME] | down (try --help)" >&2; exit 2 ;;
esac
