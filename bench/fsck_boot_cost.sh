#!/bin/bash
# What the initramfs's root filesystem check costs a boot of the kumo guest
# image on a clean filesystem: boots the image RUNS times in QEMU (TCG) with
# the check and RUNS times with fsck.mode=skip, each on a throwaway overlay,
# and takes from the guest kernel's own timestamps the time from the last
# initramfs module ("loop: module loaded") to the root's read-write mount.
# Prints each boot and the medians; the difference is the check's cost.
#
# usage: bench/fsck_boot_cost.sh [BUILD_DIR]   (default: build)
# env:   RUNS (default 3)
set -euo pipefail

build=$(cd "${1:-build}" && pwd)
image=$build/guest-image
runs=${RUNS:-3}
case "$runs" in '' | *[!0-9]*) echo "RUNS is a whole number" >&2; exit 2 ;; esac
for f in vmlinuz initrd.img rootfs.qcow2; do
  [ -e "$image/$f" ] || { echo "missing $image/$f (build guest-image)" >&2; exit 2; }
done

dir=$(mktemp -d /tmp/kumo-fsck-cost.XXXXXX)
qemu=""
cleanup() {
  [ -n "$qemu" ] && kill -9 "$qemu" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

# boot EXTRA_CMDLINE: prints the ms from the last module to the rw mount.
boot() {
  rm -f "$dir/overlay.qcow2" "$dir/console.log"
  qemu-img create -q -f qcow2 -F qcow2 -b "$image/rootfs.qcow2" "$dir/overlay.qcow2"
  qemu-system-x86_64 -accel tcg -m 256 -nodefaults -display none -kernel "$image/vmlinuz" \
    -initrd "$image/initrd.img" -append "console=ttyS0 root=/dev/vda rw $1" \
    -drive "file=$dir/overlay.qcow2,format=qcow2,if=virtio" \
    -serial "file:$dir/console.log" </dev/null >/dev/null 2>&1 &
  qemu=$!
  for _ in $(seq 1 600); do
    grep -aq "mounted filesystem with ordered data mode" "$dir/console.log" 2>/dev/null && break
    sleep 0.1
  done
  kill -9 "$qemu"
  wait "$qemu" 2>/dev/null || true
  qemu=""
  awk 'function stamp(line) { sub(/^[^[]*\[ */, "", line); sub(/\].*/, "", line); return line }
       /loop: module loaded/ { from = stamp($0) }
       /mounted filesystem with ordered data mode/ { to = stamp($0) }
       END { if (from == "" || to == "") exit 1; printf "%d\n", (to - from) * 1000 }' \
    "$dir/console.log"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

: >"$dir/check" && : >"$dir/skip"
for i in $(seq 1 "$runs"); do
  c=$(boot "") && echo "$c" >>"$dir/check"
  s=$(boot fsck.mode=skip) && echo "$s" >>"$dir/skip"
  echo "boot $i: last module to rw mount: with the check $c ms, fsck.mode=skip $s ms"
done
c=$(median <"$dir/check") s=$(median <"$dir/skip")
echo "median: with the check $c ms, without $s ms: the check costs $((c - s)) ms (TCG)"
