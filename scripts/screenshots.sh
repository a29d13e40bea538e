#!/usr/bin/env bash
# Writes docs/screenshots/*.png: the web client (web/dist) in Debian's Chromium,
# against a fresh natterd (its own port and temporary data directory, stopped
# afterwards) holding a small scene. `make screenshots` builds everything first.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD:-build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
export NATTERD="${NATTERD:-$build/natterd}"
export WEB_DIST="${WEB_DIST:-$root/web/dist}"
"$root/scripts/web-build.sh"
cd "$root/tests/web"
exec node screenshots.mjs
