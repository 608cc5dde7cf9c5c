#!/usr/bin/env bash
# Runs kumo as far as it is built: installs what it needs, builds everything
# (binaries and the guest image), boots the guest image under QEMU with the
# agent channel on a unix socket, waits for kumo-agent to answer, and shows
# what the guest reports. Then it follows the guest's serial console until
# Ctrl-C, and stops QEMU by its pid.
#
#   scripts/run.sh            boot and stay attached to the console log
#   scripts/run.sh --check    boot, show the guest, power it off, exit
#
# Accelerator: KUMO_ACCEL=kvm|tcg; by default KVM when /dev/kvm is usable,
# falling back to TCG if the guest does not come up under KVM (nested KVM
# hangs on some hosts).
set -euo pipefail
cd "$(dirname "$0")/.."

check_only=0
[ "${1:-}" = "--check" ] && check_only=1

bash scripts/install-deps.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build

image=build/guest-image
own_run_dir=0
if [ -n "${KUMO_RUN_DIR:-}" ]; then
  run_dir=$KUMO_RUN_DIR
else
  run_dir=$(mktemp -d /tmp/kumo-run.XXXXXX)
  own_run_dir=1
fi
mkdir -p "$run_dir"
chmod 0700 "$run_dir"
kumo=build/bin/kumo
qemu_pid=""

stop_qemu() {
  if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
    kill "$qemu_pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$qemu_pid" 2>/dev/null || true
  fi
  qemu_pid=""
}
cleanup() {
  stop_qemu
  if [ "$own_run_dir" = 1 ]; then rm -rf "$run_dir"; fi
}
trap cleanup EXIT

boot() {  # boot ACCEL: starts QEMU in the background, sets qemu_pid
  rm -f "$run_dir/disk.qcow2" "$run_dir/agent.sock" "$run_dir/console.log"
  qemu-img create -q -f qcow2 -F qcow2 -b "$PWD/$image/rootfs.qcow2" "$run_dir/disk.qcow2"
  qemu-system-x86_64 -accel "$1" -m 256 -smp 1 -nodefaults -display none -no-reboot \
    -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
    -append "console=ttyS0 root=/dev/vda rw" \
    -drive "file=$run_dir/disk.qcow2,if=virtio,format=qcow2" \
    -netdev user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22 -device virtio-net-pci,netdev=net0 \
    -device virtio-rng-pci -device virtio-serial-pci \
    -chardev "socket,id=agent,path=$run_dir/agent.sock,server=on,wait=off" \
    -device virtserialport,chardev=agent,name=org.qemu.guest_agent.0 \
    -serial "file:$run_dir/console.log" &
  qemu_pid=$!
}

accels=${KUMO_ACCEL:-}
if [ -z "$accels" ]; then
  if [ -w /dev/kvm ]; then accels="kvm tcg"; else accels="tcg"; fi
fi
up=0
for accel in $accels; do
  echo "kumo: booting the guest image with $accel"
  boot "$accel"
  if "$kumo" agent --socket "$run_dir/agent.sock" --wait 30 guest-ping >/dev/null; then
    up=1
    break
  fi
  echo "kumo: the guest agent did not answer under $accel"
  stop_qemu
done
[ "$up" = 1 ] || { echo "kumo: the guest did not come up; console log: $run_dir/console.log"; exit 1; }

echo "kumo: guest up (QEMU pid $qemu_pid, $accel); kumo-agent answers on $run_dir/agent.sock"
"$kumo" agent --socket "$run_dir/agent.sock" guest-get-osinfo
"$kumo" agent --socket "$run_dir/agent.sock" kumo-health

if [ "$check_only" = 1 ]; then
  "$kumo" agent --socket "$run_dir/agent.sock" guest-shutdown 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$qemu_pid" 2>/dev/null; then echo "kumo: guest did not power off"; exit 1; fi
  echo "kumo: guest powered off through the agent"
  qemu_pid=""
  exit 0
fi

cat <<MSG
kumo: try, in another terminal:
  $kumo agent --socket $run_dir/agent.sock kumo-health
  $kumo agent --socket $run_dir/agent.sock guest-network-get-interfaces
  ssh -p 2222 root@127.0.0.1      (once a key is installed; see README)
kumo: following the serial console ($run_dir/console.log); Ctrl-C stops the guest.
MSG
tail -n +1 -f "$run_dir/console.log" --pid "$qemu_pid" || true
