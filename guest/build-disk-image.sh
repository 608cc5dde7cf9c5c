#!/usr/bin/env bash
# Builds a kumo guest that boots from its own disk (no direct kernel boot), from
# the guest image build-image.sh made, without root, loop devices or mounts:
#   OUT/disk.qcow2  an MBR disk: SYSLINUX's MBR; partition 1 (FAT, bootable)
#                   holds SYSLINUX, the guest's vmlinuz and initrd.img and a
#                   syslinux.cfg that boots them with root=/dev/vda2 on the
#                   serial console; partition 2 is the guest's ext4 root
#   OUT/image.json  with no "kernel": kumod boots the disk with the firmware
#
# usage: build-disk-image.sh --from GUEST_IMAGE_DIR --out DIR
set -euo pipefail

from="" out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --from) from=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "build-disk-image: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -f "$from/vmlinuz" ] && [ -f "$from/initrd.img" ] && [ -f "$from/rootfs.qcow2" ] &&
  [ -n "$out" ] || { echo "usage: build-disk-image.sh --from GUEST_IMAGE_DIR --out DIR" >&2; exit 2; }
export PATH="$PATH:/usr/sbin:/sbin"
mbr=/usr/lib/syslinux/mbr/mbr.bin
for tool in syslinux mcopy mkfs.fat sfdisk e2fsck resize2fs debugfs qemu-img; do
  command -v "$tool" >/dev/null || {
    echo "build-disk-image: $tool is missing; run scripts/install-deps.sh" >&2; exit 1; }
done
[ -f "$mbr" ] || { echo "build-disk-image: $mbr is missing (syslinux-common)" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "$out/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
step() { echo "build-disk-image: $*"; }

# Sizes in 512-byte sectors. The whole disk stays under 1 GiB, the smallest
# disk a server can have (its overlay must not cut the root partition short).
boot_start=2048 boot_sectors=$((32 * 2048))   # 32 MiB FAT
root_start=$((boot_start + boot_sectors)) root_mib=900

step "boot partition (SYSLINUX)"
# -h: the partition's offset, which SYSLINUX's boot sector reads.
mkfs.fat -F 16 -h "$boot_start" -n KUMO-BOOT -C "$work/boot.img" $((boot_sectors / 2)) >/dev/null
syslinux --install "$work/boot.img"
cat > "$work/syslinux.cfg" <<'CFG'
SERIAL 0 115200
PROMPT 0
TIMEOUT 0
DEFAULT kumo
SAY SYSLINUX: booting the kumo guest from its disk (root=/dev/vda2)
LABEL kumo
  KERNEL /vmlinuz
  INITRD /initrd.img
  APPEND console=ttyS0 root=/dev/vda2 rw
CFG
mcopy -i "$work/boot.img" "$from/vmlinuz" "$from/initrd.img" "$work/syslinux.cfg" ::/

step "root partition"
qemu-img convert -f qcow2 -O raw "$from/rootfs.qcow2" "$work/root.img"
e2fsck -fy "$work/root.img" >/dev/null 2>&1 || [ $? -le 1 ]
resize2fs -f "$work/root.img" "${root_mib}M" >/dev/null 2>&1
truncate -s "${root_mib}M" "$work/root.img"
echo "/dev/vda2 / ext4 rw 0 1" > "$work/fstab"
chmod 0644 "$work/fstab"
debugfs -w -R "rm /etc/fstab" "$work/root.img" >/dev/null 2>&1
debugfs -w -R "write $work/fstab /etc/fstab" "$work/root.img" >/dev/null 2>&1
debugfs -R "cat /etc/fstab" "$work/root.img" 2>/dev/null | grep -q vda2 || {
  echo "build-disk-image: could not write /etc/fstab" >&2; exit 1; }

step "disk"
root_sectors=$((root_mib * 2048))
truncate -s $(((root_start + root_sectors) * 512)) "$work/disk.raw"
sfdisk -q "$work/disk.raw" <<TABLE
label: dos
start=$boot_start, size=$boot_sectors, type=6, bootable
start=$root_start, size=$root_sectors, type=83
TABLE
dd if="$mbr" of="$work/disk.raw" bs=440 count=1 conv=notrunc status=none
dd if="$work/boot.img" of="$work/disk.raw" bs=512 seek="$boot_start" conv=notrunc,sparse status=none
dd if="$work/root.img" of="$work/disk.raw" bs=1M seek=$((root_start / 2048)) conv=notrunc,sparse \
  status=none
qemu-img convert -f raw -O qcow2 "$work/disk.raw" "$work/disk.qcow2"

kver=$(sed -n 's/.*"kernel_release": *"\([^"]*\)".*/\1/p' "$from/image.json")
cat > "$work/image.json" <<JSON
{
  "name": "kumo-guest-disk",
  "kernel_release": "$kver",
  "disk": "disk.qcow2",
  "agent": "kumo-agent"
}
JSON
for f in disk.qcow2 image.json; do mv -f "$work/$f" "$out/$f"; done
step "done: $out"
