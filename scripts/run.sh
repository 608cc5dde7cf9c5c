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
# Accelerator: KUMO_ACCEL=kvm|tcg. By default KVM when /dev/kvm is usable and a
# probe boot under KVM answers; else TCG (nested KVM hangs on some hosts).
set -euo pipefail
cd "$(dirname "$0")/.."

check_only=0
[ "${1:-}" = "--check" ] && check_only=1
listen=${KUMO_LISTEN:-127.0.0.1:8470}

bash scripts/install-deps.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build

image=build/guest-image
kumo=build/bin/kumo
export KUMO_URL="http://$listen"
work=$(mktemp -d /tmp/kumo-run.XXXXXX)
probe_pid="" kumod_pid=""

cleanup() {
  if [ -n "$kumod_pid" ] && kill -0 "$kumod_pid" 2>/dev/null; then
    "$kumo" delete demo --force --wait >/dev/null 2>&1 || true
    kill "$kumod_pid" 2>/dev/null || true
    wait "$kumod_pid" 2>/dev/null || true
  fi
  if [ -n "$probe_pid" ]; then kill -9 "$probe_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Which accelerator boots the guest here? A quick probe boot answers it.
probe() {  # probe ACCEL: 0 if the guest's agent answers within 30 s
  qemu-img create -q -f qcow2 -F qcow2 -b "$PWD/$image/rootfs.qcow2" "$work/probe.qcow2"
  qemu-system-x86_64 -accel "$1" -m 256 -nodefaults -display none \
    -kernel "$image/vmlinuz" -initrd "$image/initrd.img" -append "console=ttyS0 root=/dev/vda rw" \
    -drive "file=$work/probe.qcow2,if=virtio,format=qcow2" -device virtio-serial-pci \
    -chardev "socket,id=agent,path=$work/probe.sock,server=on,wait=off" \
    -device virtserialport,chardev=agent,name=org.qemu.guest_agent.0 -serial null &
  probe_pid=$!
  local rc=0
  "$kumo" agent --socket "$work/probe.sock" --wait 30 guest-ping >/dev/null 2>&1 || rc=1
  kill -9 "$probe_pid" 2>/dev/null || true
  wait "$probe_pid" 2>/dev/null || true
  probe_pid=""
  rm -f "$work/probe.qcow2" "$work/probe.sock"
  return $rc
}
accel=${KUMO_ACCEL:-}
if [ -z "$accel" ]; then
  accel=tcg
  if [ -w /dev/kvm ]; then
    echo "kumo: probing KVM (up to 30 s)"
    if probe kvm; then accel=kvm; else echo "kumo: guests do not boot under KVM here; using TCG"; fi
  fi
fi

build/bin/kumod --listen "$listen" --accel "$accel" > "$work/kumod.log" 2>&1 &
kumod_pid=$!
for _ in $(seq 1 100); do
  if "$kumo" images >/dev/null 2>&1; then break; fi
  kill -0 "$kumod_pid" 2>/dev/null || { cat "$work/kumod.log"; exit 1; }
  sleep 0.1
done
state_dir=$(sed -n 's/^kumod: API token in \(.*\)\/token$/\1/p' "$work/kumod.log")
echo "kumo: kumod is running (pid $kumod_pid, accel $accel)"
echo "kumo: API  http://$listen"
echo "kumo: token $(cat "$state_dir/token")   (from $state_dir/token)"

"$kumo" delete demo --force --wait >/dev/null 2>&1 || true  # left over from an earlier run
echo "kumo: creating the demo server (its user data is an init script)"
cat > "$work/demo-user-data" <<'SCRIPT'
#!/bin/sh
echo "kumo demo: the init script ran on $(hostname) at $(date)"
SCRIPT
"$kumo" create demo --user-data-file "$work/demo-user-data" --wait
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
