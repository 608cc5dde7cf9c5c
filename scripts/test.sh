#!/usr/bin/env bash
# Runs kumo's whole test suite on a bare Debian 12 machine: installs what it
# needs, builds everything (the web panel with npm, the guest image), runs the
# unit, protocol and end-to-end tests (real QEMU under TCG unless
# KUMO_TEST_ACCEL says otherwise; the panel in Debian's Chromium through
# Playwright) and a smoke run of the benchmarks (ctest bench.smoke:
# scripts/bench.sh --smoke, no targets enforced), then builds the libFuzzer
# targets with clang and fuzzes the parsers (agent requests, user data,
# console lines) for a bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
# The stock Debian image (guest/debian/) takes minutes on a machine that has
# not cached it: it is made beside the panel and the C++ build, whose own
# guest-debian-image step waits for it (build.sh takes a lock). Nothing is
# left running if a step below fails: the exit waits for it.
mkdir -p build
bash guest/debian/build.sh --out build/guest-debian-image > build/debian-image.log 2>&1 &
debian_image=$!
trap 'wait' EXIT
bash scripts/build-panel.sh

# Compiled objects are cached outside the clone, so that a machine that ran
# the suite before builds in a fraction of the time; a bare machine fills the
# cache on its first run. Paths are made relative to the clone (BASEDIR,
# NOHASHDIR), so another clone of the same commit hits the same entries.
export CCACHE_DIR="${KUMO_CACHE_DIR:-/var/cache/kumo}/ccache"
if ! mkdir -p "$CCACHE_DIR" 2>/dev/null; then CCACHE_DIR="$HOME/.cache/kumo/ccache"; fi
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE=5G
launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

cmake -S . -B build -G Ninja "${launcher[@]}"
cmake --build build
wait "$debian_image" || { cat build/debian-image.log; exit 1; }
ctest --test-dir build --output-on-failure -j 2

cmake -S . -B build-fuzz -G Ninja "${launcher[@]}" -DKUMO_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++
cmake --build build-fuzz
ctest --test-dir build-fuzz --output-on-failure
