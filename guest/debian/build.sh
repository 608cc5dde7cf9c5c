#!/usr/bin/env bash
# Builds a stock Debian 12 (bookworm) cloud image from Debian's archive, the
# kind of image a new user brings to kumo: systemd, Debian's cloud kernel,
# cloud-init (NoCloud), qemu-guest-agent, openssh-server, GRUB.
#   OUT/disk.qcow2  an MBR disk, 2 GiB virtual: partition 1 the ESP (FAT32,
#                   type ef) with GRUB at EFI/BOOT/BOOTX64.EFI (UEFI, removable
#                   path, no NVRAM), partition 2 the ext4 root; GRUB for BIOS
#                   in the MBR and the gap after it. Console on ttyS0.
#   OUT/image.json  for kumod's --image-dir (firmware bios, login user debian,
#                   agent qemu-ga)
# No loop devices or mounts: mmdebstrap makes the root in a directory,
# mke2fs -d and mtools make the filesystems, GRUB's own grub-mkimage (run in
# the new root) makes its images, which are written to the disk with dd.
#
# The image is cached in CACHE/<sha256 of this folder's files>/ and built only
# when that is absent (one build at a time: others wait for its lock); a build happens in a temporary directory renamed at the
# end, so a build cut off midway never counts as cached. OUT/disk.qcow2 is a
# symlink to the cached disk.
#
# usage: build.sh --out DIR [--cache DIR]
#   (default cache ${KUMO_CACHE_DIR:-/var/cache/kumo}/debian-image, else ~/.cache/kumo/debian-image)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out="" cache="${KUMO_CACHE_DIR:-/var/cache/kumo}/debian-image"
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    *) echo "debian-image: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || { echo "usage: build.sh --out DIR [--cache DIR]" >&2; exit 2; }
export PATH="$PATH:/usr/sbin:/sbin"
for tool in mmdebstrap mke2fs mkfs.fat mmd mcopy sfdisk qemu-img sha256sum; do
  command -v "$tool" >/dev/null || {
    echo "debian-image: $tool is missing; run scripts/install-deps.sh" >&2; exit 1; }
done
step() { echo "debian-image: $(date -u +%H:%M:%S) $*"; }

key=$(cd "$here" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum |
  cut -c1-64)
mkdir -p "$out"
# Like scripts/test.sh's ccache: a user who may not write /var/cache gets one of their own.
if ! mkdir -p "$cache" 2>/dev/null; then cache="$HOME/.cache/kumo/debian-image" && mkdir -p "$cache"; fi
out=$(cd "$out" && pwd) cache=$(cd "$cache" && pwd)
image="$cache/$key"
# One build at a time per cache: scripts/test.sh starts one early, in the
# background, and the build target's own run waits here for it to finish,
# then finds the image cached.
exec 9>"$cache/.lock"
if ! flock -n 9; then
  step "waiting for another build of the image to finish"
  flock 9
fi

# The disk's time is touched: make follows the symlink to judge whether its
# output is newer than the recipe.
publish() {
  touch "$image/disk.qcow2"
  ln -sfn "$image/disk.qcow2" "$out/disk.qcow2.new" && mv -Tf "$out/disk.qcow2.new" "$out/disk.qcow2"
  cp "$image/image.json" "$out/image.json.new" && mv -f "$out/image.json.new" "$out/image.json"
  step "done: $out (the disk is $image/disk.qcow2)"
}
if [ -f "$image/disk.qcow2" ] && [ -f "$image/image.json" ]; then
  step "cached: $image"
  publish
  exit 0
fi

# mmdebstrap's root mode: the files of the new root belong to root on the host,
# as mke2fs -d must find them (unshare mode would leave subordinate ids).
[ "$(id -u)" -eq 0 ] || {
  echo "debian-image: must run as root (mmdebstrap --mode=root, then mke2fs -d)" >&2; exit 1; }
work=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
step "building in $work (recipe $key)"

# The host's Debian bookworm sources (not its other repositories); Debian's own
# mirror when the host has none.
sources=$(apt-get indextargets --format 'deb $(REPO_URI) $(RELEASE) $(COMPONENT)' \
  'Identifier: Packages' 'Origin: Debian' 2>/dev/null |
  awk '$3 ~ /^bookworm(-updates|-security)?$/' | sort -u || true)
if [ -z "$sources" ]; then
  sources="deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main"
fi
printf '%s\n' "$sources" > "$work/sources.list"
step "sources: $(tr '\n' ';' < "$work/sources.list")"

# Sizes in 512-byte sectors: the ESP from 1 MiB (GRUB's BIOS core image lives
# in the gap before it), the root to the end of the 2 GiB disk.
esp_start=2048 esp_sectors=$((127 * 2048))
root_start=$((esp_start + esp_sectors)) disk_sectors=$((2048 * 2048))
root_sectors=$((disk_sectors - root_start))
root_uuid=$(cat /proc/sys/kernel/random/uuid)
esp_serial=$(od -An -N4 -tx4 /dev/urandom | tr -d ' ' | tr a-f A-F)
esp_uuid="${esp_serial:0:4}-${esp_serial:4:4}"
printf 'ROOT_UUID=%s\nESP_UUID=%s\n' "$root_uuid" "$esp_uuid" > "$work/ids"

step "mmdebstrap: Debian 12 with systemd, cloud-init, qemu-guest-agent, openssh-server, GRUB"
packages=(
  systemd-sysv udev dbus systemd-resolved linux-image-cloud-amd64 initramfs-tools zstd
  grub-pc grub-efi-amd64-bin cloud-init cloud-guest-utils qemu-guest-agent openssh-server
  sudo e2fsprogs iproute2 procps netbase ca-certificates less
)
mmdebstrap --mode=root --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" \
  --aptopt='Acquire::Retries "3"' \
  --customize-hook="copy-in $here/root/etc /" \
  --customize-hook="copy-in $work/ids /tmp" \
  --customize-hook="$here/customize.sh \"\$1\"" \
  --customize-hook="copy-out /tmp/boot.img /tmp/core.img /tmp/BOOTX64.EFI $work" \
  bookworm "$work/root" "$work/sources.list"

kver=$(basename "$(ls -d "$work"/root/lib/modules/*)")
step "root filesystem (ext4, kernel $kver)"
rm -rf "$work/root/tmp/"*
mke2fs -q -t ext4 -L debian-root -U "$root_uuid" -E root_owner=0:0 -d "$work/root" \
  "$work/root.img" $((root_sectors / 2))k
rm -rf "$work/root"

step "EFI system partition (FAT32, EFI/BOOT/BOOTX64.EFI)"
mkfs.fat -F 32 -S 512 -s 1 -h "$esp_start" -i "$esp_serial" -n EFI -C "$work/esp.img" \
  $((esp_sectors / 2)) >/dev/null
mmd -i "$work/esp.img" ::/EFI ::/EFI/BOOT
mcopy -i "$work/esp.img" "$work/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI

step "disk (MBR: ESP, root; GRUB for BIOS in the MBR)"
truncate -s $((disk_sectors * 512)) "$work/disk.raw"
sfdisk -q "$work/disk.raw" <<TABLE
label: dos
start=$esp_start, size=$esp_sectors, type=ef
start=$root_start, size=$root_sectors, type=83, bootable
TABLE
# boot.img's first 440 bytes (the partition table stays): it loads the first
# sector of core.img from sector 1, whose block list (filled by grub-mkimage)
# loads the rest from sector 2 on.
[ "$(stat -c %s "$work/core.img")" -le $(((esp_start - 1) * 512)) ] || {
  echo "debian-image: GRUB's core image does not fit before the ESP" >&2; exit 1; }
dd if="$work/boot.img" of="$work/disk.raw" bs=440 count=1 conv=notrunc status=none
dd if="$work/core.img" of="$work/disk.raw" bs=512 seek=1 conv=notrunc status=none
dd if="$work/esp.img" of="$work/disk.raw" bs=512 seek="$esp_start" conv=notrunc,sparse status=none
dd if="$work/root.img" of="$work/disk.raw" bs=1M seek=$((root_start / 2048)) conv=notrunc,sparse \
  status=none
rm -f "$work/root.img" "$work/esp.img"
step "qcow2"
qemu-img convert -f raw -O qcow2 "$work/disk.raw" "$work/disk.qcow2"
rm -f "$work/disk.raw"
cat > "$work/image.json" <<JSON
{"name":"debian-12","disk":"disk.qcow2","firmware":"bios","login_user":"debian","agent_kind":"qemu-ga","os":"debian-12","kernel_release":"$kver"}
JSON

mkdir -p "$work/image"
mv "$work/disk.qcow2" "$work/image.json" "$work/image/"
chmod 0755 "$work/image" && chmod 0644 "$work/image/"*
rm -rf "$image"
mv -T "$work/image" "$image"
publish
