#!/usr/bin/env bash
# Builds the web client (web/ -> web/dist, which natterd serves with
# --web-root) only when its inputs changed since the last build: a hash of
# them is kept in web/dist. Prints one line when it builds, nothing otherwise.
# scripts/deps.sh installs web/node_modules first (`make web` runs both).
set -euo pipefail
web="$(cd "$(dirname "$0")/../web" && pwd)"
stamp="$web/dist/.natter-inputs-sha256"

# Every input, by path and content, in a stable order: a file added, removed,
# renamed or edited changes the hash.
inputs_sum() {
  (
    cd "$web"
    {
      for f in index.html vite.config.js package.json package-lock.json; do
        [ -f "$f" ] && printf '%s\n' "$f"
      done
      for d in src public; do
        [ -d "$d" ] && find "$d" -type f
      done
    } | LC_ALL=C sort | while IFS= read -r f; do
      printf '%s  %s\n' "$(sha256sum < "$f" | cut -d' ' -f1)" "$f"
    done
  ) | sha256sum | cut -d' ' -f1
}

sum="$(inputs_sum)"
if [ -f "$web/dist/index.html" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$sum" ]; then
  exit 0
fi
if [ ! -x "$web/node_modules/.bin/vite" ]; then
  echo "web: web/node_modules is missing: run scripts/deps.sh (make deps) first" >&2
  exit 1
fi
echo "web: building web/dist (npm run build)" >&2
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! (cd "$web" && npm run build >"$log" 2>&1); then
  cat "$log" >&2
  echo "web: npm run build failed" >&2
  exit 1
fi
echo "$sum" > "$stamp"
