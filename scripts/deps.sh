#!/usr/bin/env bash
# Installs the Debian packages natter needs to build and test, only when some
# are missing, so `make run` and `make test` stay idempotent and fast.
set -euo pipefail
pkgs=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libssl-dev libsqlite3-dev libargon2-dev libjwt-dev
  libspdlog-dev nlohmann-json3-dev libcli11-dev libtomlplusplus-dev prometheus-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev jq
  libxxhash-dev
  # the sanitizer tree and the fuzz targets (make test-sanitize, make fuzz):
  # clang, its ASan/UBSan/libFuzzer runtimes
  clang-14 libclang-rt-14-dev
  # the PostgreSQL store: libpq to build, the server for its tests (tests/support/pg_server)
  libpq-dev postgresql-15
  # the Redis bus and presence store: hiredis to build, the server for its tests (tests/support/redis_server)
  libhiredis-dev redis-server
  # the cluster (scripts/cluster.sh, tests/cluster): HAProxy in front of the nodes
  haproxy
  # the browser tests' browser (tests/web drives it with playwright-core; no
  # browser is ever downloaded through npm)
  chromium
)
missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y "${missing[@]}"
fi

# Node.js, and the Node modules of the S3 tests (AWS's SigV4 signer, s3rver),
# the web client (Vite, Preact) and the browser tests (playwright-core,
# axe-core).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "deps: installing nodejs npm" >&2
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y nodejs npm
fi
# `npm_ci DIR` (relative to the repository): `npm ci` only when DIR's
# package-lock.json changed since the last install, which a stamp in
# node_modules remembers (npm ci empties node_modules first).
root="$(cd "$(dirname "$0")/.." && pwd)"
npm_ci() {
  local dir="$root/$1" lock_sum stamp
  lock_sum="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  stamp="$dir/node_modules/.natter-lock-sha256"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
    echo "deps: npm ci in $1" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock_sum" > "$stamp"
  fi
}
npm_ci tests/s3
npm_ci web
npm_ci tests/web
