// Test support: the kumo guest image booted by a real QEMU (TCG by default
// here; KUMO_TEST_ACCEL=kvm where nested KVM works), with its agent channel
// on a host unix socket and its serial console in a log file. The disk is a
// qcow2 overlay on the image's and may be booted again (boot 2, 3, ...: each
// with its own agent socket and serial log). The QEMU process belongs to the
// test and is stopped by its pid.
#pragma once

#include <chrono>
#include <string>

#include "support/child_process.h"

namespace kumo::testing {

class GuestVm {
 public:
  GuestVm() = default;
  ~GuestVm() { qemu_.Stop(); }

  // Creates the overlay disk and starts QEMU: boot 1, no seed.
  bool Boot(std::string* err) { return CreateDisk(err) && Start(1, "", err); }

  bool CreateDisk(std::string* err);
  // Starts QEMU on the disk; with a seed ISO as a second, read-only virtio
  // disk, as kumod attaches a server's NoCloud seed.
  // REQUIRES: CreateDisk succeeded, and the previous QEMU has exited.
  bool Start(int boot, const std::string& seed_iso, std::string* err);

  std::string path(const std::string& name) const { return dir_ / name; }
  std::string agent_socket() const { return path("agent-" + std::to_string(boot_) + ".sock"); }
  std::string serial_path() const { return path("serial-" + std::to_string(boot_) + ".log"); }
  std::string serial_log() const { return ReadFile(serial_path()); }
  double seconds_since_start() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  }
  ChildProcess& qemu() { return qemu_; }
  std::string image_file(const std::string& name) const;

 private:
  TempDir dir_;
  ChildProcess qemu_;
  int boot_ = 1;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace kumo::testing
