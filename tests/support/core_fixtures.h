// Test support for the server core's unit tests on simulated time: a
// CoreConfig whose heartbeat and deadlines are short (seconds of a guest's
// life take microseconds), the image every test server is made from, and a
// ledger on a real SQLite store for the ledger's readers. Header-only: it
// needs the core's types, which kumo_test_support does not link.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "core/server_core.h"
#include "store/sqlite_store.h"
#include "support/child_process.h"
#include "support/simulated_clock.h"

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

// A ledger on a SQLite store in a temp dir, on simulated time.
struct StoredLedger {
  StoredLedger() {
    store = std::move(*store::SqliteStore::Open(dir / "kumod.db"));
    ledger = std::make_unique<core::ServerLedger>(*store, clock);
  }
  // A new server on the test image.
  void Create(const std::string& name) {
    ServerRecord r;
    r.name = name;
    r.image = "kumo-guest";
    ASSERT_TRUE(ledger->Create(r, "created").ok());
  }

  TempDir dir;
  boost::asio::io_context io;
  SimulatedClock clock{io};
  std::unique_ptr<store::Store> store;
  std::unique_ptr<core::ServerLedger> ledger;
};

}  // namespace kumo::testing
