#!/usr/bin/env bash
# Installs every build, run and test dependency of kumo from Debian 12's archive.
# Idempotent: packages already present are left alone. Needs root (or sudo).
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config ccache
  libboost-dev libboost-system-dev nlohmann-json3-dev libsqlite3-dev libcli11-dev
  libgtest-dev libgmock-dev
  # fuzzing (libFuzzer ships with clang's runtime)
  clang libclang-rt-14-dev
  # hypervisor and guest image recipe
  qemu-system-x86 qemu-utils busybox-static dropbear-bin e2fsprogs kmod cpio
  # the guest on a disk that boots with its own bootloader (guest/build-disk-image.sh)
  syslinux syslinux-common mtools dosfstools fdisk
  # UEFI boot: Debian's OVMF for kumod, GRUB's EFI modules for the UEFI test disk
  ovmf grub-efi-amd64-bin
  # the stock Debian 12 cloud image (guest/debian/build.sh; its GRUB comes from the image)
  mmdebstrap
  # kumod's host firewall for guests; the isolation test's network namespace
  nftables iproute2
  # end-to-end tests log in over SSH with a key made by ssh-keygen
  openssh-client
  # user data: #cloud-config parsing and the NoCloud seed ISO
  libyaml-cpp-dev genisoimage
  # protocol compatibility tests run against Debian's stock guest agent (guest-get-timezone
  # is checked under TZ=Asia/Tokyo); the kumo-agent package is checked with dpkg-deb
  qemu-guest-agent tzdata dpkg
  # the Prometheus text format test reads kumo's output with a real parser
  python3-prometheus-client
  # the web panel's end-to-end tests drive Debian's Chromium (never a downloaded browser)
  chromium
)
# The web panel is built with Node.js and npm: Debian's (Node 18) unless the
# machine already has a Node.js of its own (e.g. NodeSource's, which bundles npm).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then packages+=(nodejs npm); fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -q
  "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# kumod, as root, runs QEMU as this unprivileged system user (docs/kumod.md).
if ! getent passwd kumo-qemu >/dev/null; then
  echo "install-deps: creating the system user kumo-qemu"
  "${sudo_cmd[@]}" useradd --system --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin kumo-qemu
fi
