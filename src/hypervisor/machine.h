// The hypervisor driver's contract: what the server core may ask of a
// virtual machine, and what the machine reports back. Two drivers implement
// it: QemuDriver (real QEMU processes) and FakeDriver (unit tests, scale
// benchmarks). Drivers never include the server core.
//
// Everything runs on the one Boost.Asio event loop of kumod: callbacks are
// invoked from it, never from another thread, and never before the call that
// registered them has returned.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace kumo::hypervisor {

// Where a machine's files live. The directory is 0700; sockets and FIFOs are 0600.
struct MachinePaths {
  std::string run_dir;
  std::string qmp_socket() const { return run_dir + "/qmp.sock"; }
  std::string agent_socket() const { return run_dir + "/agent.sock"; }
  // QEMU's pipe chardev for the serial console (-chardev pipe,path=…): QEMU
  // writes the guest's output to the .out FIFO and reads its input from .in.
  std::string console_pipe() const { return run_dir + "/console"; }
  std::string console_output_fifo() const { return console_pipe() + ".out"; }
  std::string console_input_fifo() const { return console_pipe() + ".in"; }
  std::string console_log() const { return run_dir + "/console.log"; }
  std::string pidfile() const { return run_dir + "/qemu.pid"; }
  std::string disk() const { return run_dir + "/disk.qcow2"; }
  // Where qemu-img makes the disk; it becomes disk() once whole, so a disk()
  // that exists is never half made (by a kumod killed meanwhile, say).
  std::string disk_in_making() const { return disk() + ".part"; }
  std::string qemu_log() const { return run_dir + "/qemu.log"; }
  // The machine's own UEFI variable store (NVRAM), when it boots with OVMF.
  std::string uefi_vars() const { return run_dir + "/uefi-vars.fd"; }
};

// The device id of the agent's virtio-serial port (QMP names it in VSERPORT_CHANGE).
inline constexpr char kAgentPortId[] = "agent-port";

struct MachineSpec {
  std::string name;
  int vcpus = 1;
  int memory_mib = 256;
  int disk_gib = 1;
  // Direct kernel boot of the image.
  std::string kernel;
  std::string initrd;
  std::string cmdline;
  std::string base_disk;              // the image's disk; the machine gets a qcow2 overlay on it
  std::string base_format = "qcow2";  // of base_disk: "qcow2" | "raw"
  std::string accel = "kvm";          // kvm | tcg
  int ssh_host_port = 0;              // 0: no forward; else 127.0.0.1:PORT → guest :22
  std::string seed_image;  // NoCloud seed (ISO), attached read-only as a second disk; "" none
  // UEFI boot (OVMF) when uefi_code is set, else SeaBIOS: the firmware's
  // code, mapped read-only, and the template of its variable store, copied
  // once to paths.uefi_vars() and kept (the boot entries the guest writes).
  std::string uefi_code;
  std::string uefi_vars_template;
  MachinePaths paths;
};

// What a machine reports, from QMP events and from watching its process.
struct MachineEvent {
  enum class Kind {
    kShutdown,  // QMP SHUTDOWN (guest powered off, or quit); detail: QEMU's reason
    kReset,     // QMP RESET
    kPanicked,  // QMP GUEST_PANICKED (pvpanic)
    kStopped,   // QMP STOP (paused)
    kResumed,   // QMP RESUME
    kExited,    // the QEMU process is gone; detail says how, if known
    // QMP VSERPORT_CHANGE of the agent's port: the guest opened ("open") or
    // closed ("closed") it — its agent started, or ended.
    kAgentChannel,
  };
  Kind kind;
  bool guest_initiated = false;  // SHUTDOWN/RESET: the guest asked for it
  std::string detail;
};

class Machine {
 public:
  using EventHandler = std::function<void(const MachineEvent&)>;
  using Done = std::function<void(Status)>;

  virtual ~Machine() = default;
  virtual int64_t pid() const = 0;
  virtual const MachinePaths& paths() const = 0;
  // The handler receives every event after this call; kExited is the last.
  virtual void SetEventHandler(EventHandler handler) = 0;
  // QMP "quit": QEMU exits at once, whatever the guest does.
  virtual void Quit(Done done) = 0;
  // QMP "system_reset": a hard reset of the guest.
  virtual void SystemReset(Done done) = 0;
  // QMP "system_powerdown": presses the ACPI power button. `done` says QEMU
  // took the press; whether the guest powers off is up to the guest.
  virtual void PowerButton(Done done) = 0;
  // SIGKILL to the QEMU process.
  virtual void Kill() = 0;
  // Whether the process still exists.
  virtual bool alive() const = 0;
};

class HypervisorDriver {
 public:
  using MachineReady = std::function<void(Result<std::shared_ptr<Machine>>)>;

  virtual ~HypervisorDriver() = default;
  // Creates spec.paths.run_dir (0700), the disk overlay and (UEFI) the
  // variable store if missing, starts the machine detached from kumod (it
  // outlives kumod), and connects to it.
  // Errors: HypervisorError with QEMU's own message.
  virtual void Launch(const MachineSpec& spec, MachineReady done) = 0;
  // Re-attaches to a machine started earlier, by its pid and run_dir, after a
  // kumod restart. NotFound if that process no longer runs (or is not QEMU).
  virtual void Attach(const MachineSpec& spec, int64_t pid, MachineReady done) = 0;
  // Every process that is the machine of one of `machines`, keyed by run_dir
  // (a run_dir with none is absent), whatever kumod wrote down: after a crash
  // of kumod this is the truth a record is reconciled with. A machine still
  // starting is found as soon as its process exists. Synchronous; meant for
  // recovery, not for hot paths.
  virtual std::map<std::string, std::vector<int64_t>> FindRunning(
      const std::vector<MachinePaths>& machines) = 0;
  // SIGKILL to `pid` if it is still the machine of `paths` (one FindRunning
  // reported, that cannot be attached to).
  virtual void KillStray(const MachinePaths& paths, int64_t pid) = 0;
};

}  // namespace kumo::hypervisor
