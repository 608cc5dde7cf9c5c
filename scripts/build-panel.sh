#!/usr/bin/env bash
# Builds the web panel into web/dist, which kumod serves at / (--panel-dir).
# npm packages come from the npm registry through a cache outside the clone
# (KUMO_CACHE_DIR/npm, default /var/cache/kumo/npm), so a machine that built
# the panel before installs them offline; web/node_modules is reinstalled
# only when package-lock.json changed. Runs on Node 18 (Debian 12) and 20.
set -euo pipefail
cd "$(dirname "$0")/../web"

cache_root="${KUMO_CACHE_DIR:-/var/cache/kumo}"
if ! mkdir -p "$cache_root/npm" 2>/dev/null; then cache_root="$HOME/.cache/kumo"; fi
mkdir -p "$cache_root/npm"

# Browsers come from Debian (chromium), never downloaded.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1)"
stamp=node_modules/.kumo-lock-sha256
if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_hash" ]; then
  echo "build-panel: installing npm packages (cache $cache_root/npm)"
  npm ci --no-audit --no-fund --prefer-offline --cache "$cache_root/npm"
  echo "$lock_hash" >"$stamp"
fi
node build.mjs
