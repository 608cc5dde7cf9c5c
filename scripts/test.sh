#!/usr/bin/env bash
# Runs kumo's whole test suite on a bare Debian 12 machine: installs what it
# needs, builds everything (including the guest image), runs the unit,
# protocol and end-to-end tests (real QEMU under TCG unless KUMO_TEST_ACCEL
# says otherwise), then builds the libFuzzer targets with clang and fuzzes the
# agent's request parser for a bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

cmake -S . -B build -G Ninja
cmake --build build
ctest --test-dir build --output-on-failure -j 2

cmake -S . -B build-fuzz -G Ninja -DKUMO_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++
cmake --build build-fuzz
ctest --test-dir build-fuzz --output-on-failure
