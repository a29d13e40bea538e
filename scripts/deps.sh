#!/usr/bin/env bash
# Installs the Debian packages natter needs to build and test, only when some
# are missing, so `make run` and `make test` stay idempotent and fast.
set -euo pipefail
pkgs=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libssl-dev libsqlite3-dev libargon2-dev libjwt-dev
  libspdlog-dev nlohmann-json3-dev libcli11-dev libtomlplusplus-dev prometheus-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev jq
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

# Node.js, and the S3 tests' Node modules (AWS's SigV4 signer, s3rver): `npm ci`
# only when package-lock.json changed since the last install, which the stamp
# in node_modules remembers (npm ci empties node_modules first).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "deps: installing nodejs npm" >&2
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y nodejs npm
fi
s3_tools="$(cd "$(dirname "$0")/../tests/s3" && pwd)"
lock_sum="$(sha256sum "$s3_tools/package-lock.json" | cut -d' ' -f1)"
stamp="$s3_tools/node_modules/.natter-lock-sha256"
if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
  echo "deps: npm ci in tests/s3" >&2
  (cd "$s3_tools" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" > "$stamp"
fi
