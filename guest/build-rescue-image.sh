#!/usr/bin/env bash
# Builds kumo's rescue system, with which kumod rescues a server whose image
# boots from its own disk (kumo rescue NAME), from what build-image.sh already
# fetched and built, without root:
#   OUT/vmlinuz     the guest image's kernel (Debian's cloud kernel)
#   OUT/initrd.img  the whole rescue system, which never leaves the initramfs:
#                   busybox, kumo-agent (--role rescue), e2fsprogs, util-linux's
#                   blkid, kumo's chpasswd, the virtio, vfat and isofs modules,
#                   and rescue/ (init, inittab, banner, the passwd helper)
#
# usage: build-rescue-image.sh --agent PATH --from GUEST_IMAGE_DIR --cache DIR --out DIR
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
agent="" from="" cache="" out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --agent) agent=$2; shift 2 ;;
    --from) from=$2; shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "build-rescue-image: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$agent" ] && [ -f "$from/vmlinuz" ] && [ -f "$from/image.json" ] &&
  [ -d "$cache/kernel/lib/modules" ] && [ -n "$out" ] || {
  echo "usage: build-rescue-image.sh --agent PATH --from GUEST_IMAGE_DIR --cache DIR --out DIR" \
    "(build the guest image first: its kernel is in DIR/kernel)" >&2; exit 2; }
export PATH="$PATH:/usr/sbin:/sbin"
for tool in busybox e2fsck mke2fs tune2fs resize2fs dumpe2fs blkid modprobe cpio; do
  command -v "$tool" >/dev/null || {
    echo "build-rescue-image: $tool is missing; run scripts/install-deps.sh" >&2; exit 1; }
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
kernel_root="$cache/kernel"
kver=$(sed -n 's/.*"kernel_release": *"\([^"]*\)".*/\1/p' "$from/image.json")
[ -d "$kernel_root/lib/modules/$kver" ] || {
  echo "build-rescue-image: no modules for $kver in $kernel_root" >&2; exit 1; }
work=$(mktemp -d "$out/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
step() { echo "build-rescue-image: $*"; }
# copy_libraries PROGRAM ROOT: the shared libraries PROGRAM needs, at their
# paths under ROOT. copy_program PATH ROOT: the host's (Debian 12) program at
# the same path under ROOT, with its libraries (as in build-image.sh).
copy_libraries() {
  ldd "$1" | awk '/=>/{print $3} /ld-linux/{print $1}' | while read -r lib; do
    [ -f "$lib" ] || continue
    mkdir -p "$2$(dirname "$lib")"
    cp -L "$lib" "$2$lib"
  done
}
copy_program() {
  mkdir -p "$2$(dirname "$1")"
  install -m 0755 "$1" "$2$1"
  copy_libraries "$1" "$2"
}

step "rescue system for $kver"
ird="$work/initramfs"
mkdir -p "$ird"/{bin,sbin,usr/bin,usr/sbin,lib/modules,etc,dev,proc,sys,run,tmp,mnt,root}
chmod 1777 "$ird/tmp"
chmod 0700 "$ird/root"
cp "$(command -v busybox)" "$ird/bin/busybox"
"$ird/bin/busybox" --list-full | while read -r applet; do
  [ "$applet" = "bin/busybox" ] && continue
  mkdir -p "$ird/$(dirname "$applet")"
  [ -e "$ird/$applet" ] || ln -s /bin/busybox "$ird/$applet"
done
# The same drivers as the guest's initramfs, and vfat for a boot or EFI
# system partition.
: > "$ird/lib/modules/order"
for module in virtio_pci virtio_blk virtio_console virtio_net virtio_rng pvpanic_pci isofs loop \
  button evdev vfat nls_cp437 nls_ascii nls_utf8; do
  modprobe -d "$kernel_root" -S "$kver" --show-depends "$module" | awk '/^insmod/{print $2}'
done | awk '!seen[$0]++' | while read -r ko; do
  cp "$ko" "$ird/lib/modules/"
  basename "$ko" >> "$ird/lib/modules/order"
done
# Real programs over busybox's applets where both exist (rm first: the
# applet is a symlink to busybox).
for program in e2fsck mke2fs tune2fs resize2fs dumpe2fs debugfs blkid; do
  path=$(command -v "$program")
  rm -f "$ird$path"
  copy_program "$path" "$ird"
done
for name in fsck.ext4 fsck.ext3 fsck.ext2; do ln -sf e2fsck "$ird/usr/sbin/$name"; done
for name in mkfs.ext4 mkfs.ext3 mkfs.ext2; do ln -sf mke2fs "$ird/usr/sbin/$name"; done
install -m 0755 "$agent" "$ird/sbin/kumo-agent"
# kumo-agent is built static; a dynamic build brings its libraries.
if ldd "$agent" >/dev/null 2>&1; then copy_libraries "$agent" "$ird"; fi
rm -f "$ird/usr/sbin/chpasswd"
install -m 0755 "$here/rootfs/usr/sbin/chpasswd" "$ird/usr/sbin/chpasswd"
install -m 0755 "$here/rescue/init" "$ird/init"
install -m 0755 "$here/rescue/kumo-rescue" "$here/rescue/kumo-rescue-passwd" "$ird/sbin/"
install -m 0644 "$here/rescue/inittab" "$here/rescue/profile" "$ird/etc/"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$ird/etc/passwd"
printf 'root:x:0:\n' > "$ird/etc/group"
printf 'root:*:19000:0:99999:7:::\n' > "$ird/etc/shadow"
chmod 0640 "$ird/etc/shadow"
echo /bin/sh > "$ird/etc/shells"
(cd "$ird" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -6) > "$work/initrd.img"

cp "$from/vmlinuz" "$work/vmlinuz"
for f in vmlinuz initrd.img; do mv -f "$work/$f" "$out/$f"; done
step "done: $out ($(($(stat -c %s "$out/initrd.img") / 1024)) KiB initramfs)"
