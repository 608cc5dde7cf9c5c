#!/usr/bin/env bash
# Runs kumo: installs what it needs, builds everything (binaries and the guest
# image), starts kumod on 127.0.0.1:8470 with its state in the default state
# directory (so `build/bin/kumo list` works right away), prints the API
# address and token, and creates a demo server from the built image. Then it
# follows kumod's log until Ctrl-C, which deletes the demo server and stops
# kumod.
#
#   scripts/run.sh            run until Ctrl-C
#   scripts/run.sh --check    start, create the demo, stop it gracefully, delete it, exit
#
# Accelerator: KUMO_ACCEL=kvm|tcg. By default KVM when /dev/kvm is usable and
# the demo server, started by kumod under KVM, runs within 30 s; else kumod is
# restarted with TCG (nested KVM hangs on some hosts). The script has no QEMU
# command line of its own: kumod boots the demo as it boots every server.
set -euo pipefail
cd "$(dirname "$0")/.."

check_only=0
[ "${1:-}" = "--check" ] && check_only=1
listen=${KUMO_LISTEN:-127.0.0.1:8470}

bash scripts/install-deps.sh
bash scripts/build-panel.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build

kumo=build/bin/kumo
export KUMO_URL="http://$listen"
work=$(mktemp -d /tmp/kumo-run.XXXXXX)
kumod_pid=""

cleanup() {
  if [ -n "$kumod_pid" ] && kill -0 "$kumod_pid" 2>/dev/null; then
    "$kumo" delete demo --force --wait >/dev/null 2>&1 || true
    kill "$kumod_pid" 2>/dev/null || true
    wait "$kumod_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

start_kumod() {  # start_kumod ACCEL: kumod in the background, until its API answers
  build/bin/kumod --listen "$listen" --accel "$1" >> "$work/kumod.log" 2>&1 &
  kumod_pid=$!
  for _ in $(seq 1 100); do
    if "$kumo" images >/dev/null 2>&1; then break; fi
    kill -0 "$kumod_pid" 2>/dev/null || { cat "$work/kumod.log"; exit 1; }
    sleep 0.1
  done
  echo "kumo: kumod is running (pid $kumod_pid, accel $1)"
}

stop_kumod() {  # servers keep running when kumod stops: delete the demo first
  kill "$kumod_pid" 2>/dev/null || true
  wait "$kumod_pid" 2>/dev/null || true
  kumod_pid=""
}

create_demo() {  # create_demo TIMEOUT: 0 once the demo server runs
  "$kumo" create demo --user-data-file "$work/demo-user-data" --wait --timeout "$1"
}

accel=${KUMO_ACCEL:-}
probe_kvm=0
if [ -z "$accel" ]; then
  accel=tcg
  if [ -w /dev/kvm ]; then accel=kvm probe_kvm=1; fi
fi
start_kumod "$accel"
state_dir=$(sed -n 's/^kumod: API token in \(.*\)\/token$/\1/p' "$work/kumod.log" | head -n 1)
echo "kumo: panel http://$listen/   (sign in with the token below)"
echo "kumo: API  http://$listen"
echo "kumo: token $(cat "$state_dir/token")   (from $state_dir/token)"

"$kumo" delete demo --force --wait >/dev/null 2>&1 || true  # left over from an earlier run
cat > "$work/demo-user-data" <<'SCRIPT'
#!/bin/sh
echo "kumo demo: the init script ran on $(hostname) at $(date)"
SCRIPT
if [ "$probe_kvm" = 1 ]; then
  # Does KVM work here? The demo server under KVM answers it.
  echo "kumo: creating the demo server under KVM (TCG instead if it does not run within 30 s)"
  if ! create_demo 30; then
    echo "kumo: guests do not boot under KVM here; restarting kumod with TCG"
    "$kumo" delete demo --force --wait >/dev/null 2>&1 || true
    stop_kumod
    accel=tcg
    start_kumod "$accel"
    echo "kumo: creating the demo server (its user data is an init script)"
    create_demo 300
  fi
else
  echo "kumo: creating the demo server (its user data is an init script)"
  create_demo 300
fi
"$kumo" list

if [ "$check_only" = 1 ]; then
  for _ in $(seq 1 60); do
    "$kumo" events demo | grep -q "init script exited with status 0" && break
    sleep 0.5
  done
  "$kumo" events demo | grep "init script"
  "$kumo" console-log demo | grep "kumo demo: the init script ran"
  "$kumo" stop demo --wait
  "$kumo" delete demo --wait
  echo "kumo: demo server stopped and deleted"
  exit 0
fi

cat <<MSG
kumo: try, in another terminal:
  $kumo list
  $kumo show demo
  $kumo events demo
  $kumo stop demo        $kumo start demo        $kumo stop --force demo
  $kumo console demo     (Ctrl-] detaches)       $kumo console-log demo --tail 40
  $kumo set-password demo                         $kumo rescue demo / unrescue demo
kumo: following kumod's log; Ctrl-C deletes the demo server and stops kumod.
MSG
tail -n +1 -f "$work/kumod.log" --pid "$kumod_pid" || true
