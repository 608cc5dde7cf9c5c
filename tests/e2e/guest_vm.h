// Test support: the kumo guest image booted by a real QEMU (TCG by default
// here; KUMO_TEST_ACCEL=kvm where nested KVM works) with the command line
// kumod builds (hypervisor/qemu_argv.h, from the image's image.json as kumod
// reads it), in the foreground: the agent channel on a unix socket in the
// VM's directory, the serial console on FIFOs there, read by the test as
// kumod's broker would and logged by QEMU to console.log. The
// disk is a qcow2 overlay on the image's and may be booted again (boot 2,
// 3, ...). The QEMU process belongs to the test and is stopped by its pid.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "hypervisor/machine.h"
#include "support/child_process.h"
#include "support/foreground_qemu.h"

namespace kumo::testing {

class GuestVm {
 public:
  GuestVm() = default;
  ~GuestVm() { qemu_.Stop(); }

  // Creates the overlay disk and starts QEMU: boot 1, no seed.
  bool Boot(std::string* err) { return CreateDisk(err) && Start(1, "", err); }

  bool CreateDisk(std::string* err);
  // Takes a copy of `disk` (a server's own, say) as its disk instead.
  bool UseDisk(const std::string& disk, std::string* err);
  // Starts QEMU on the disk; with a seed ISO as a second, read-only virtio
  // disk, as kumod attaches a server's NoCloud seed.
  // REQUIRES: CreateDisk or UseDisk succeeded, and the previous QEMU has
  // exited.
  bool Start(int boot, const std::string& seed_iso, std::string* err);

  std::string path(const std::string& name) const { return dir_ / name; }
  std::string agent_socket() const { return spec_.paths.agent_socket(); }
  // What the guest printed on its serial console during the current boot.
  std::string serial_log() const;
  double seconds_since_start() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  }
  ChildProcess& qemu() { return qemu_; }
  std::string image_file(const std::string& name) const;

 private:
  // The spec kumod would build for a server on the kumo image.
  bool MakeSpec(std::string* err);

  TempDir dir_;
  hypervisor::MachineSpec spec_;
  std::unique_ptr<ForegroundConsole> console_;  // made before QEMU starts
  ChildProcess qemu_;
  int boot_ = 1;
  size_t log_start_ = 0;  // console.log's size when this boot started
  std::chrono::steady_clock::time_point started_;
};

}  // namespace kumo::testing
