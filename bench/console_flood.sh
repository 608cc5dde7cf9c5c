#!/bin/bash
# What one guest flooding its serial console costs kumod: boots two servers
# through a real kumod (TCG), measures kumod's CPU (utime+stime from
# /proc/PID/stat) while both are idle, then while one of them runs
# `yes > /dev/ttyS0` for FLOOD_SECONDS, and checks that the other one stays
# `running` with its agent `ok` throughout. Prints the figures; see README.md.
#
# usage: bench/console_flood.sh [BUILD_DIR]   (default: build)
# env:   FLOOD_SECONDS (default 30), IDLE_SECONDS (default 10),
#        KUMOD (default BUILD_DIR/bin/kumod: measure another kumod on this image)
set -euo pipefail

build=$(cd "${1:-build}" && pwd)
flood_s=${FLOOD_SECONDS:-30}
idle_s=${IDLE_SECONDS:-10}
case "$flood_s$idle_s" in *[!0-9]*) echo "FLOOD_SECONDS and IDLE_SECONDS are whole seconds" >&2; exit 2 ;; esac
kumod_bin=${KUMOD:-$build/bin/kumod}
for f in "$kumod_bin" "$build/bin/kumo" "$build/guest-image/image.json"; do
  [ -e "$f" ] || { echo "missing $f (build kumod kumo guest-image)" >&2; exit 2; }
done

dir=$(mktemp -d /tmp/kumo-console-flood.XXXXXX)
chmod 0711 "$dir"  # QEMU's user must pass through to the state directory
port=$((20000 + RANDOM % 20000))
kumo=("$build/bin/kumo" --url "http://127.0.0.1:$port" --state-dir "$dir/state")
"$kumod_bin" --state-dir "$dir/state" --listen "127.0.0.1:$port" --accel tcg \
  --image-dir "$build/guest-image" --ssh-port-base 0 >"$dir/kumod.log" 2>&1 &
kumod=$!

cleanup() {
  for name in flood quiet; do "${kumo[@]}" delete --force "$name" >/dev/null 2>&1 || true; done
  kill "$kumod" 2>/dev/null || true
  wait "$kumod" 2>/dev/null || true
  for pidfile in "$dir"/state/servers/*/qemu.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile" 2>/dev/null) || continue  # deleted meanwhile
    case "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" in *"$dir"*) kill -9 "$pid" ;; esac
  done
  rm -rf "$dir"
}
trap cleanup EXIT

ticks() { awk '{print $14 + $15}' "/proc/$kumod/stat"; }
hz=$(getconf CLK_TCK)
percent() { awk -v t="$1" -v hz="$hz" -v s="$2" 'BEGIN {printf "%.1f", 100 * t / hz / s}'; }
# "STATUS AGENT" of a server, from kumo list (NAME STATUS TASK AGENT ...).
state() { "${kumo[@]}" list | awk -v n="$1" '$1 == n {print $2, $4}'; }

for i in $(seq 100); do "${kumo[@]}" list >/dev/null 2>&1 && break; sleep 0.1; done
"${kumo[@]}" create --memory 192 flood >/dev/null
"${kumo[@]}" create --memory 192 quiet >/dev/null
"${kumo[@]}" wait flood --status running --timeout 300 >/dev/null
"${kumo[@]}" wait quiet --status running --timeout 300 >/dev/null
sleep 2

t0=$(ticks)
sleep "$idle_s"
idle=$(($(ticks) - t0))

t0=$(ticks)
start=$(date +%s)
"${kumo[@]}" exec flood -- /bin/sh -c \
  "timeout $flood_s yes >/dev/ttyS0 2>/dev/null </dev/null &" >/dev/null
bad=0
while [ $(($(date +%s) - start)) -lt "$flood_s" ]; do
  s=$(state quiet)
  [ "$s" = "running ok" ] || { bad=$((bad + 1)); echo "quiet is '$s' during the flood" >&2; }
  sleep 1
done
busy=$(($(ticks) - t0))
elapsed=$(($(date +%s) - start))

log="$dir/state/servers/flood/console.log"
echo "kumod CPU, two idle servers (${idle_s} s):      $(percent "$idle" "$idle_s")% of a core"
echo "kumod CPU, one flooding its console (${elapsed} s): $(percent "$busy" "$elapsed")% of a core"
echo "quiet server during the flood: $([ "$bad" = 0 ] && echo "running, agent ok at every sample" || echo "$bad bad samples")"
echo "flood's console.log + .1: $(stat -c %s "$log" 2>/dev/null || echo 0) + $(stat -c %s "$log.1" 2>/dev/null || echo 0) bytes"
echo "throttle events: $("${kumo[@]}" events flood | grep -c 'console output throttled' || true)"
echo "quiet now: $(state quiet); flood now: $(state flood)"
