// QemuDriver: runs each machine as a QEMU process in its own session (it
// outlives kumod) started from an argv, never a shell, with its QMP, agent
// and serial console on unix sockets in the machine's run_dir, in a strict
// seccomp sandbox (kSandbox).
//
// With `run_as`, QEMU and qemu-img run as that unprivileged user from their
// first instruction: the run_dir belongs to it (0700), and the image's files
// (which it may not reach) are opened by kumod and inherited. The image files
// themselves must be readable by that user (e.g. 0644); their directories
// need not be. Without `run_as`, they run as kumod's own user.
//
// Nothing here blocks the event loop on QEMU: the helper processes are
// watched with pidfds, and QMP is asynchronous. Only small local file
// operations run inline.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "common/asio.h"
#include "hypervisor/machine.h"
#include "hypervisor/spawn.h"

namespace kumo::hypervisor {

class QemuDriver : public HypervisorDriver {
 public:
  // How long QEMU (or qemu-img) may take before Launch gives up and kills it.
  static constexpr std::chrono::seconds kStartTimeout{60};

  explicit QemuDriver(boost::asio::io_context& io, std::string qemu_binary = "qemu-system-x86_64",
                      std::string qemu_img = "qemu-img", std::optional<RunAs> run_as = {});
  // Launches still under way finish (QEMU keeps running) but call nobody.
  ~QemuDriver() override;

  // Errors: InvalidArgument (bad spec; nothing is created), NotFound (an image
  // file is missing), AlreadyExists (a QEMU of this run_dir is running),
  // HypervisorError (the UEFI firmware is missing: nothing is created; or
  // qemu-img or QEMU failed: the message ends with the tail of
  // run_dir/qemu.log).
  void Launch(const MachineSpec& spec, MachineReady done) override;
  // Errors: InvalidArgument, NotFound (pid gone, or not this run_dir's QEMU:
  // its command line, and its user: run_as, kumod's own, or root for a QEMU
  // an older kumod started), HypervisorError (QMP does not answer).
  void Attach(const MachineSpec& spec, int64_t pid, MachineReady done) override;
  std::map<std::string, std::vector<int64_t>> FindRunning(
      const std::vector<MachinePaths>& machines) override;
  void KillStray(const MachinePaths& paths, int64_t pid) override;

 private:
  boost::asio::io_context& io_;
  std::string qemu_binary_;
  std::string qemu_img_;
  std::optional<RunAs> run_as_;
  std::shared_ptr<bool> alive_;  // the callbacks of operations check it
};

}  // namespace kumo::hypervisor
