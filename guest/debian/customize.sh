#!/usr/bin/env bash
# mmdebstrap's customize hook for build.sh: turns the bootstrapped ROOT into a
# cloud image (fstab, GRUB, units, no host keys or machine id of its own) and
# leaves GRUB's boot images in ROOT/tmp for build.sh to copy out (before
# mmdebstrap empties /tmp) and write to the disk:
#   boot.img, core.img (BIOS, i386-pc), BOOTX64.EFI (UEFI, x86_64-efi)
# ROOT/tmp/ids holds the UUIDs build.sh gives the filesystems.
#
# usage: customize.sh ROOT
set -euo pipefail
root=$1
in_root() { chroot "$root" "$@"; }
# shellcheck source=/dev/null
. "$root/tmp/ids"
kver=$(basename "$(ls -d "$root"/lib/modules/*)")

cat > "$root/etc/fstab" <<FSTAB
UUID=$ROOT_UUID / ext4 rw,discard,errors=remount-ro 0 1
UUID=$ESP_UUID /boot/efi vfat umask=0077,nofail 0 0
FSTAB
mkdir -p "$root/boot/efi"
echo debian > "$root/etc/hostname"
cat > "$root/etc/hosts" <<HOSTS
127.0.0.1 localhost
::1 localhost ip6-localhost ip6-loopback
HOSTS

# GRUB: the modules where grub-install puts them, a grub.cfg as update-grub
# makes it from /etc/default/grub (it cannot run here: there is no disk to
# probe; in the guest, a kernel upgrade runs it and gets the same), and the
# boot images. Both find the root by its UUID.
for target in i386-pc x86_64-efi; do
  mkdir -p "$root/boot/grub/$target"
  cp "$root/usr/lib/grub/$target/"*.mod "$root/usr/lib/grub/$target/"*.lst "$root/boot/grub/$target/"
done
cat > "$root/boot/grub/grub.cfg" <<CFG
# Written by kumo's guest/debian recipe; update-grub replaces it.
set default=0
set timeout=0
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
insmod part_msdos
insmod ext2
search --no-floppy --fs-uuid --set=root $ROOT_UUID
menuentry 'Debian GNU/Linux' {
  echo 'Loading Linux $kver ...'
  linux /boot/vmlinuz-$kver root=UUID=$ROOT_UUID ro console=tty0 console=ttyS0,115200
  echo 'Loading initial ramdisk ...'
  initrd /boot/initrd.img-$kver
}
CFG
cat > "$root/tmp/early.cfg" <<CFG
search.fs_uuid $ROOT_UUID root
set prefix=(\$root)/boot/grub
CFG
in_root grub-mkimage -O i386-pc -o /tmp/core.img -c /tmp/early.cfg -p /boot/grub \
  biosdisk part_msdos ext2 search_fs_uuid
cp "$root/usr/lib/grub/i386-pc/boot.img" "$root/tmp/boot.img"
in_root grub-mkimage -O x86_64-efi -o /tmp/BOOTX64.EFI -c /tmp/early.cfg -p /boot/grub \
  part_msdos part_gpt ext2 fat search_fs_uuid
echo "grub-pc grub-pc/install_devices multiselect /dev/vda" | in_root debconf-set-selections

# First boot under emulation: nothing that a fresh cloud server does not need.
for unit in apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer \
  e2scrub_reap.service fstrim.timer dpkg-db-backup.timer logrotate.timer; do
  if [ -e "$root/lib/systemd/system/$unit" ]; then in_root systemctl mask -q "$unit"; fi
done
in_root systemctl enable -q systemd-networkd systemd-resolved serial-getty@ttyS0.service
ln -sf ../run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"

# Every server makes its own: host keys (cloud-init's ssh module), machine id.
rm -f "$root"/etc/ssh/ssh_host_*
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
rm -rf "$root/var/lib/cloud" "$root/var/log/cloud-init"*
rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/*
