#!/usr/bin/env bash
# Builds the kumo guest image from Debian packages only, without loop mounts or
# root-only tricks beyond what mke2fs -d needs:
#   OUT/vmlinuz       Debian's cloud kernel (linux-image-*-cloud-amd64)
#   OUT/initrd.img    busybox, e2fsck + the virtio, isofs and loop modules, loaded
#                     in dependency order
#   OUT/rootfs.qcow2  ext4 root: busybox, dropbear, e2fsck, tune2fs, kumo-agent, init scripts
#   OUT/image.json    what kumod needs to boot it (kernel command line, ...)
# The kernel package is downloaded once into CACHE and reused.
#
# usage: build-image.sh --agent PATH --out DIR --cache DIR
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
agent="" out="" cache=""
while [ $# -gt 0 ]; do
  case "$1" in
    --agent) agent=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    *) echo "build-image: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$agent" ] && [ -n "$out" ] && [ -n "$cache" ] || {
  echo "usage: build-image.sh --agent PATH --out DIR --cache DIR" >&2; exit 2; }
for tool in busybox dropbear e2fsck tune2fs mke2fs qemu-img depmod modprobe cpio; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || {
    echo "build-image: $tool is missing; run scripts/install-deps.sh" >&2; exit 1; }
done
export PATH="$PATH:/usr/sbin:/sbin"
mkdir -p "$out" "$cache"
out=$(cd "$out" && pwd) cache=$(cd "$cache" && pwd)
step() { echo "build-image: $*"; }
# copy_program PATH ROOT: installs the host's (Debian 12) program PATH at the
# same path under ROOT, with the shared libraries it needs.
copy_program() {
  mkdir -p "$2$(dirname "$1")"
  install -m 0755 "$1" "$2$1"
  ldd "$1" | awk '/=>/{print $3} /ld-linux/{print $1}' | while read -r lib; do
    [ -f "$lib" ] || continue
    mkdir -p "$2$(dirname "$lib")"
    cp -L "$lib" "$2$lib"
  done
}

# --- kernel -----------------------------------------------------------------
kernel_root="$cache/kernel"
if [ ! -f "$cache/kernel.ok" ]; then
  step "fetching Debian's cloud kernel"
  apt-cache show linux-image-cloud-amd64 >/dev/null 2>&1 || apt-get update -q
  pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  [ -n "$pkg" ] || { echo "build-image: cannot resolve linux-image-cloud-amd64" >&2; exit 1; }
  rm -rf "$cache/debs" "$kernel_root"
  mkdir -p "$cache/debs"
  (cd "$cache/debs" && apt-get download -q "$pkg" 2>&1 | grep -v "unsandboxed" || true)
  ls "$cache"/debs/linux-image-*.deb >/dev/null
  dpkg -x "$cache"/debs/linux-image-*.deb "$kernel_root"
  touch "$cache/kernel.ok"
fi
kver=$(ls "$kernel_root/lib/modules")
# The package has no modules.dep; depmod makes one so that modprobe can order
# the modules for us.
[ -f "$kernel_root/lib/modules/$kver/modules.dep" ] || depmod -b "$kernel_root" "$kver"

work=$(mktemp -d "$out/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- initramfs --------------------------------------------------------------
step "initramfs for $kver"
ird="$work/initramfs"
mkdir -p "$ird"/{bin,dev,proc,sys,newroot,modules}
cp /bin/busybox "$ird/bin/busybox"
for applet in sh mount umount mkdir insmod sleep cat switch_root echo grep ls rm; do
  ln -s busybox "$ird/bin/$applet"
done
# virtio_pci is the transport (no device module depends on it): load it first.
# isofs (with cdrom, its dependency) reads the user-data seed disk; loop lets
# users (and the tests) mount filesystem images. button and evdev bring the
# ACPI power button to /dev/input, where acpid hears it.
: > "$ird/modules/order"
for module in virtio_pci virtio_blk virtio_console virtio_net virtio_rng pvpanic_pci isofs loop \
  button evdev; do
  modprobe -d "$kernel_root" -S "$kver" --show-depends "$module" | awk '/^insmod/{print $2}'
done | awk '!seen[$0]++' | while read -r ko; do
  cp "$ko" "$ird/modules/"
  basename "$ko" >> "$ird/modules/order"
done
# e2fsck checks the root before it is mounted (see initramfs/init).
copy_program /usr/sbin/e2fsck "$ird"
ln -s /usr/sbin/e2fsck "$ird/bin/e2fsck"
install -m 0755 "$here/initramfs/init" "$ird/init"
(cd "$ird" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) > "$work/initrd.img"

# --- root filesystem ----------------------------------------------------------
step "root filesystem"
rfs="$work/rootfs"
mkdir -p "$rfs"/{bin,sbin,usr/bin,usr/sbin,lib,lib64,dev,proc,sys,tmp,run,root/.ssh,var/log,var/run,etc/dropbear,home,mnt,var/lib/kumo/init}
chmod 1777 "$rfs/tmp"
chmod 0700 "$rfs/root" "$rfs/root/.ssh" "$rfs/var/lib/kumo" "$rfs/var/lib/kumo/init"
cp -a "$here/rootfs/." "$rfs/"
cp /bin/busybox "$rfs/bin/busybox"
/bin/busybox --list-full | while read -r applet; do
  [ "$applet" = "bin/busybox" ] && continue
  [ -e "$rfs/$applet" ] || ln -s /bin/busybox "$rfs/$applet"
done
install -m 0755 "$agent" "$rfs/sbin/kumo-agent"

# dropbear, and e2fsprogs' e2fsck and tune2fs for users who check or tune a
# filesystem themselves (in rescue mode, say), from this (Debian 12) host.
for program in /usr/sbin/dropbear /usr/sbin/e2fsck /usr/sbin/tune2fs; do
  copy_program "$program" "$rfs"
done
for name in fsck.ext4 fsck.ext3 fsck.ext2; do ln -sf e2fsck "$rfs/usr/sbin/$name"; done

chmod 0755 "$rfs/etc/init.d/rcS" "$rfs/usr/share/udhcpc/default.script" \
  "$rfs/sbin/kumo-init" "$rfs/usr/sbin/chpasswd" "$rfs/etc/acpi/PWRF/00000080"
chmod 0640 "$rfs/etc/shadow"
mkdir -p "$work/empty"
rm -f "$work/root.img"
mke2fs -q -t ext4 -L kumo-root -E root_owner=0:0 -d "$rfs" "$work/root.img" 1G
qemu-img convert -f raw -O qcow2 "$work/root.img" "$work/rootfs.qcow2"

# --- publish ------------------------------------------------------------------
cp "$kernel_root/boot/vmlinuz-$kver" "$work/vmlinuz"
cat > "$work/image.json" <<JSON
{
  "name": "kumo-guest",
  "kernel_release": "$kver",
  "kernel": "vmlinuz",
  "initrd": "initrd.img",
  "disk": "rootfs.qcow2",
  "cmdline": "console=ttyS0 root=/dev/vda rw",
  "agent": "kumo-agent"
}
JSON
for f in vmlinuz initrd.img rootfs.qcow2 image.json; do mv -f "$work/$f" "$out/$f"; done
step "done: $out"
