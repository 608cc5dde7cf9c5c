#!/usr/bin/env bash
# Builds a kumo guest that boots from its own disk (no direct kernel boot), from
# the guest image build-image.sh made, without root, loop devices or mounts.
# With --firmware bios (the default):
#   OUT/disk.qcow2  an MBR disk: SYSLINUX's MBR; partition 1 (FAT, bootable)
#                   holds SYSLINUX, the guest's vmlinuz and initrd.img and a
#                   syslinux.cfg that boots them with root=/dev/vda2 on the
#                   serial console; partition 2 is the guest's ext4 root
# With --firmware uefi:
#   OUT/disk.qcow2  a GPT disk: partition 1 is an EFI system partition (FAT)
#                   with GRUB at the removable-media path EFI/BOOT/BOOTX64.EFI
#                   (grub-mkstandalone, its grub.cfg inside) and the guest's
#                   vmlinuz and initrd.img; partition 2 is the same ext4 root,
#                   with efivarfs.ko from --kernel-dir in /lib/modules
# and
#   OUT/image.json  with no "kernel": kumod boots the disk with the firmware
#
# usage: build-disk-image.sh --from GUEST_IMAGE_DIR --out DIR
#                            [--firmware bios|uefi] [--kernel-dir UNPACKED_KERNEL_PACKAGE]
set -euo pipefail

from="" out="" firmware=bios kernel_dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --from) from=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --firmware) firmware=$2; shift 2 ;;
    --kernel-dir) kernel_dir=$2; shift 2 ;;
    *) echo "build-disk-image: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -f "$from/vmlinuz" ] && [ -f "$from/initrd.img" ] && [ -f "$from/rootfs.qcow2" ] &&
  [ -n "$out" ] && { [ "$firmware" = bios ] || [ "$firmware" = uefi ]; } || {
  echo "usage: build-disk-image.sh --from GUEST_IMAGE_DIR --out DIR [--firmware bios|uefi]" \
    "[--kernel-dir DIR]" >&2; exit 2; }
export PATH="$PATH:/usr/sbin:/sbin"
mbr=/usr/lib/syslinux/mbr/mbr.bin
tools=(mcopy mkfs.fat sfdisk e2fsck resize2fs debugfs qemu-img)
if [ "$firmware" = bios ]; then tools+=(syslinux); else tools+=(mmd grub-mkstandalone); fi
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || {
    echo "build-disk-image: $tool is missing; run scripts/install-deps.sh" >&2; exit 1; }
done
if [ "$firmware" = bios ] && [ ! -f "$mbr" ]; then
  echo "build-disk-image: $mbr is missing (syslinux-common)" >&2; exit 1
fi
if [ "$firmware" = uefi ] && [ ! -d /usr/lib/grub/x86_64-efi ]; then
  echo "build-disk-image: /usr/lib/grub/x86_64-efi is missing (grub-efi-amd64-bin)" >&2; exit 1
fi
kver=$(sed -n 's/.*"kernel_release": *"\([^"]*\)".*/\1/p' "$from/image.json")
efivarfs=""
if [ -n "$kernel_dir" ]; then
  efivarfs="$kernel_dir/lib/modules/$kver/kernel/fs/efivarfs/efivarfs.ko"
  [ -f "$efivarfs" ] || { echo "build-disk-image: no $efivarfs" >&2; exit 1; }
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "$out/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
step() { echo "build-disk-image: $*"; }

# Sizes in 512-byte sectors. The whole disk stays under 1 GiB, the smallest
# disk a server can have (its overlay must not cut the root partition short).
boot_start=2048 boot_sectors=$((32 * 2048))   # 32 MiB FAT
root_start=$((boot_start + boot_sectors)) root_mib=900

if [ "$firmware" = bios ]; then
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
else
  step "EFI system partition (GRUB)"
  mkfs.fat -F 16 -n KUMO-EFI -C "$work/boot.img" $((boot_sectors / 2)) >/dev/null
  # GRUB's console is UEFI's, which OVMF puts on the serial port when there is no display.
  cat > "$work/grub.cfg" <<'CFG'
echo "GRUB (UEFI): booting the kumo guest from its disk (root=/dev/vda2)"
search --no-floppy --label KUMO-EFI --set=root
linux /vmlinuz console=ttyS0 root=/dev/vda2 rw
initrd /initrd.img
boot
CFG
  grub_modules="part_gpt fat search search_label linux normal echo boot"
  grub-mkstandalone -O x86_64-efi --modules="$grub_modules" --install-modules="$grub_modules" \
    --locales= --fonts= --themes= -o "$work/BOOTX64.EFI" "boot/grub/grub.cfg=$work/grub.cfg"
  mmd -i "$work/boot.img" ::/EFI ::/EFI/BOOT
  mcopy -i "$work/boot.img" "$work/BOOTX64.EFI" ::/EFI/BOOT/
  mcopy -i "$work/boot.img" "$from/vmlinuz" "$from/initrd.img" ::/
fi

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
if [ -n "$efivarfs" ]; then
  # So that the guest can read and write its UEFI variables (insmod, mount -t efivarfs).
  debugfs -w -R "mkdir /lib/modules" "$work/root.img" >/dev/null 2>&1 || true
  debugfs -w -R "write $efivarfs /lib/modules/efivarfs.ko" "$work/root.img" >/dev/null 2>&1
  debugfs -R "stat /lib/modules/efivarfs.ko" "$work/root.img" 2>/dev/null | grep -q "Size:" || {
    echo "build-disk-image: could not write /lib/modules/efivarfs.ko" >&2; exit 1; }
fi

step "disk"
root_sectors=$((root_mib * 2048))
if [ "$firmware" = bios ]; then
  truncate -s $(((root_start + root_sectors) * 512)) "$work/disk.raw"
  sfdisk -q "$work/disk.raw" <<TABLE
label: dos
start=$boot_start, size=$boot_sectors, type=6, bootable
start=$root_start, size=$root_sectors, type=83
TABLE
  dd if="$mbr" of="$work/disk.raw" bs=440 count=1 conv=notrunc status=none
else
  # GPT keeps a copy of its table in the disk's last 33 sectors.
  truncate -s $(((root_start + root_sectors + 2048) * 512)) "$work/disk.raw"
  sfdisk -q "$work/disk.raw" <<TABLE
label: gpt
start=$boot_start, size=$boot_sectors, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI system"
start=$root_start, size=$root_sectors, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="kumo root"
TABLE
fi
dd if="$work/boot.img" of="$work/disk.raw" bs=512 seek="$boot_start" conv=notrunc,sparse status=none
dd if="$work/root.img" of="$work/disk.raw" bs=1M seek=$((root_start / 2048)) conv=notrunc,sparse \
  status=none
qemu-img convert -f raw -O qcow2 "$work/disk.raw" "$work/disk.qcow2"

name=kumo-guest-disk
if [ "$firmware" = uefi ]; then name=kumo-guest-uefi-disk; fi
cat > "$work/image.json" <<JSON
{
  "name": "$name",
  "firmware": "$firmware",
  "kernel_release": "$kver",
  "disk": "disk.qcow2",
  "agent": "kumo-agent"
}
JSON
for f in disk.qcow2 image.json; do mv -f "$work/$f" "$out/$f"; done
step "done: $out"
