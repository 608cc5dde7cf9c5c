// Test support: the kumo guest image booted by a real QEMU (TCG by default
// here; KUMO_TEST_ACCEL=kvm where nested KVM works), with its agent channel
// on a host unix socket and its serial console in a log file. The QEMU
// process belongs to the test and is stopped by its pid.
#pragma once

#include <string>

#include "support/child_process.h"

namespace kumo::testing {

class GuestVm {
 public:
  GuestVm() = default;
  ~GuestVm() { qemu_.Stop(); }

  // Creates a qcow2 overlay on the image's disk and starts QEMU.
  bool Boot(std::string* err);

  std::string agent_socket() const { return dir_ / "agent.sock"; }
  std::string serial_log() const { return ReadFile(dir_ / "serial.log"); }
  ChildProcess& qemu() { return qemu_; }
  std::string image_file(const std::string& name) const;

 private:
  TempDir dir_;
  ChildProcess qemu_;
};

}  // namespace kumo::testing
