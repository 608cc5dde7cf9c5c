// Test support for the server core's unit tests on simulated time: a
// CoreConfig whose heartbeat and deadlines are short (seconds of a guest's
// life take microseconds), and the image every test server is made from.
// Header-only: it needs the core's types, which kumo_test_support does not
// link.
#pragma once

#include <chrono>
#include <string>

#include "core/server_core.h"

namespace kumo::testing {

inline core::CoreConfig SimulatedCoreConfig(const std::string& state_dir) {
  using namespace std::chrono_literals;
  core::CoreConfig config;
  config.state_dir = state_dir;
  config.heartbeat = 100ms;
  config.stop_timeout = 2s;
  config.boot_timeout = 5s;
  config.reboot_timeout = 5s;
  config.force_kill_after = 300ms;
  config.restart_grace = 1s;
  return config;
}

// Registered as "kumo-guest"; its files are never opened by the fake driver.
inline ImageRecord TestImage() {
  return {
      "kumo-guest", "/img/vmlinuz", "/img/initrd", "/img/disk.qcow2", "console=ttyS0", "6.1", 1};
}

}  // namespace kumo::testing
