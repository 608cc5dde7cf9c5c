// QemuDriver: runs each machine as a daemonized QEMU process (its own
// session; it outlives kumod) started from an argv, never a shell, with its
// QMP, agent and serial console on unix sockets in the machine's run_dir.
//
// Nothing here blocks the event loop on QEMU: the helper processes (qemu-img,
// QEMU's pre-daemonize parent) are watched with pidfds, and QMP is
// asynchronous. Only small local file operations run inline.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/asio.h"
#include "hypervisor/machine.h"

namespace kumo::hypervisor {

class QemuDriver : public HypervisorDriver {
 public:
  // How long QEMU (or qemu-img) may take before Launch gives up and kills it.
  static constexpr std::chrono::seconds kStartTimeout{60};

  explicit QemuDriver(boost::asio::io_context& io, std::string qemu_binary = "qemu-system-x86_64",
                      std::string qemu_img = "qemu-img");
  // Launches still under way finish (QEMU keeps running) but call nobody.
  ~QemuDriver() override;

  // Errors: InvalidArgument (bad spec; nothing is created), NotFound (an image
  // file is missing), AlreadyExists (a QEMU of this run_dir is running),
  // HypervisorError (qemu-img or QEMU failed: the message ends with the tail
  // of run_dir/qemu.log).
  void Launch(const MachineSpec& spec, MachineReady done) override;
  // Errors: InvalidArgument, NotFound (pid gone, or not this run_dir's QEMU),
  // HypervisorError (QMP does not answer).
  void Attach(const MachineSpec& spec, int64_t pid, MachineReady done) override;
  std::map<std::string, std::vector<int64_t>> FindRunning(
      const std::vector<MachinePaths>& machines) override;
  void KillStray(const MachinePaths& paths, int64_t pid) override;

 private:
  boost::asio::io_context& io_;
  std::string qemu_binary_;
  std::string qemu_img_;
  std::shared_ptr<bool> alive_;  // the callbacks of operations check it
};

}  // namespace kumo::hypervisor
