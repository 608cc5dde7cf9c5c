// ServerCore is the one owner of servers' lives (STYLE.md rule 3): the API
// validates requests and hands them here; only the core changes a server. It
// runs every operation (create, start, stop, reboot, rescue, delete) as a
// task, one per server at a time, and drives the hypervisor driver and the
// guest agents. Every change goes through the ServerLedger, which writes it
// with an event that says why before anyone can read it, and publishes it:
// features that want to hear of changes subscribe to the ledger instead of
// adding members here. The heartbeat (heartbeat.h) and the user-data
// follower (init_follower.h) are parts of their own.
//
// Runs on kumod's single event loop; not thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/asio.h"
#include "common/clock.h"
#include "common/status.h"
#include "console/console_broker.h"
#include "core/heartbeat.h"
#include "core/init_follower.h"
#include "core/server_ledger.h"
#include "core/server_spec.h"
#include "guestlink/guest_agent.h"
#include "hypervisor/machine.h"
#include "hypervisor/uefi_firmware.h"
#include "store/store.h"

namespace kumo::core {

using Milliseconds = std::chrono::milliseconds;

struct CoreConfig {
  std::string state_dir;  // servers live in STATE_DIR/servers/NAME
  std::string accel = "kvm";
  Milliseconds heartbeat{1000};
  int missed_pings_for_warning = 2;
  Milliseconds boot_timeout{180000};  // start until the agent answers
  Milliseconds stop_timeout{60000};   // graceful stop until QEMU exits
  Milliseconds reboot_timeout{180000};
  Milliseconds force_kill_after{2000};  // QMP quit, then SIGKILL
  Milliseconds delete_timeout{30000};
  // Rescue / unrescue of a running server: how long the guest may take to
  // power off (so its writes reach the disk) before it is forced off.
  Milliseconds restart_grace{30000};
  int first_ssh_port = 0;  // 0: no SSH forward; else servers get ports from here up
  // Servers of UEFI images boot with this OVMF (kumod --ovmf-code, --ovmf-vars).
  std::string ovmf_code = hypervisor::kDebianOvmfCode;
  std::string ovmf_vars = hypervisor::kDebianOvmfVars;
  // kumo's rescue system (guest/build-rescue-image.sh): the kernel and
  // initramfs a server of an image that boots from its own disk is rescued
  // with, its disk attached. Empty, or files missing: such rescues are
  // refused.
  std::string rescue_kernel;
  std::string rescue_initrd;
  // Hears each heartbeat's round trip, in seconds (for /metrics).
  std::function<void(double seconds)> on_heartbeat_round_trip;
};

struct ExecRequest {
  // At most this much input: kumo-agent takes requests of up to 256 KiB
  // (qga::QgaFramer::kMaxRequestBytes) and the input travels in base64.
  static constexpr size_t kMaxInputBytes = 160 * 1024;

  std::string path;
  std::vector<std::string> args;
  std::string input;  // fed to stdin
  Milliseconds timeout{30000};
};

struct ExecResult {
  int exit_code = -1;
  int signal = 0;
  std::string stdout_text;
  std::string stderr_text;
};

// What the core drives; owned by the caller, outliving the core.
struct CoreParts {
  boost::asio::io_context& io;
  Clock& clock;
  ServerLedger& ledger;
  store::Store& store;  // the images
  hypervisor::HypervisorDriver& driver;
  // Connects to a guest's agent socket (guestlink::ConnectGuestAgent in kumod).
  guestlink::GuestAgentFactory connect_agent;
};

class ServerCore {
 public:
  ServerCore(CoreParts parts, CoreConfig config);
  ~ServerCore();
  ServerCore(const ServerCore&) = delete;
  ServerCore& operator=(const ServerCore&) = delete;

  // Re-attaches to the QEMUs that outlived a previous kumod, reconciles tasks
  // that were in flight, and starts the heartbeat (server_recovery.cc).
  void Recover();

  // Operations: validated and accepted (the returned record shows the task
  // under way) or refused with nothing changed.
  Result<ServerRecord> Create(const ServerSpec& spec);
  Result<ServerRecord> Start(const std::string& name);
  Result<ServerRecord> Stop(const std::string& name, bool force);
  Result<ServerRecord> Reboot(const std::string& name, bool force);
  Result<ServerRecord> Delete(const std::string& name, bool force);
  // Presses the guest's ACPI power button (QMP system_powerdown): the middle
  // way between a graceful stop, which needs the agent, and a force stop. The
  // task ends when the guest powers off, or after stop_timeout with "the guest
  // ignored the power button" and a hint to force stop (server_power_button.cc).
  Result<ServerRecord> StopByPowerButton(const std::string& name);

  // Restarts the server into rescue mode: a single-user boot with a root
  // shell on the serial console, no password. A running guest is asked to
  // power off first (through its agent) and forced off only if it cannot be
  // asked or has not powered off within restart_grace.
  Result<ServerRecord> Rescue(const std::string& name);
  // Restarts a server in rescue mode into a normal boot.
  Result<ServerRecord> Unrescue(const std::string& name);

  // Sets a user's password in the guest through its agent
  // (guest-set-user-password). Needs the agent answering. On success, says
  // where it was set: in the guest, or (in kumo's rescue system) in the
  // server's own disk.
  void SetPassword(const std::string& name, const std::string& user, const std::string& password,
                   std::function<void(Result<std::string>)> done);

  // Runs a program in the guest through its agent (guest-exec) and calls back
  // with its exit status and output. Needs the agent answering.
  void Exec(const std::string& name, const ExecRequest& request,
            std::function<void(Result<ExecResult>)> done);

  // The serial console of a running server (server_console.cc): its broker,
  // running from launch until QEMU exits (then it stops and every subscriber
  // hears so). Subscribe to it for output, Write to it for input; keep only
  // a weak reference. Errors: NotFound; InvalidState when QEMU is not running.
  Result<std::shared_ptr<console::ConsoleBroker>> Console(const std::string& name);
  // The console scrollback kept on disk (console.log.1 + console.log), its
  // last tail_lines lines (0: all, at most console::kMaxScrollbackBytes).
  // Works whatever the server's state. Errors: NotFound.
  Result<std::string> ConsoleLog(const std::string& name, size_t tail_lines) const;

  Result<ServerRecord> Get(const std::string& name) const;
  std::vector<ServerRecord> List() const;
  // The agent link of a running server (null when none): for features that
  // ask the guest things of their own, such as the diagnosis's kumo-health.
  std::shared_ptr<guestlink::GuestAgent> AgentOf(const std::string& name) const;
  // The newest `limit` events with id < before_id, oldest first.
  Result<std::vector<EventRecord>> EventsBefore(const std::string& name, int64_t before_id,
                                                int limit) const;
  Result<std::vector<EventRecord>> Events(const std::string& name, int64_t after_id,
                                          int limit) const;

  Status RegisterImage(const ImageRecord& image);
  std::vector<ImageRecord> Images() const;
  // The agent the server runs: the one guest-info named in this QEMU (asked
  // at each boot's end and after kumod restarted), else the image's
  // agent_kind ("kumo-agent" when its image is unknown). Features that need
  // kumo-agent's own commands ask this first.
  std::string AgentKindOf(const ServerRecord& r) const;
  // Whether the server's current boot has an agent to wait for and ask:
  // not the normal boot of an image of agent kind none (then the boot ends
  // when QEMU runs, and stop and reboot use the ACPI power button); kumo's
  // rescue system always has one.
  bool BootHasAgent(const ServerRecord& r) const;
  // What the server's image will not do with its user data, for people
  // ("user data: packages: not applied by the kumo image"): the image's
  // user_data_support decides. Empty for a server without user data.
  std::vector<std::string> UserDataWarnings(const ServerRecord& r) const;
  // The user to log in as on the server's image ("root" when not known).
  std::string LoginUserOf(const ServerRecord& r) const;
  const std::string& state_dir() const { return config_.state_dir; }
  int64_t NowMs() const { return clock_.NowMs(); }
  // Changes the store could not write yet (its filesystem is full).
  size_t unsaved_changes() const { return ledger_.unsaved(); }

 private:
  struct Runtime;
  using Change = ServerLedger::Change;

  Result<ServerRecord> Transition(const std::string& name, const std::string& kind,
                                  const std::string& message, const Change& change) {
    return ledger_.Transition(name, kind, message, change);
  }
  Runtime& RuntimeOf(const std::string& name);
  // The image's agent_kind ("kumo-agent" when its image is unknown).
  std::string ImageAgentKindOf(const ServerRecord& r) const;
  hypervisor::MachineSpec MachineSpecOf(const ServerRecord& r) const;

  // Machines (server_machines.cc).
  void Launch(const std::string& name);
  void OnLaunched(const std::string& name, Result<std::shared_ptr<hypervisor::Machine>> machine);
  // Recovery (server_recovery.cc): `pids` are the server's QEMUs found running.
  void RecoverServer(const ServerRecord& r, const std::vector<int64_t>& pids);
  void OnReattached(const ServerRecord& r, std::shared_ptr<hypervisor::Machine> machine);
  void RecoverWithoutQemu(const ServerRecord& r);
  void Adopt(const std::string& name, std::shared_ptr<hypervisor::Machine> machine);
  void OnMachineEvent(const std::string& name, const hypervisor::MachineEvent& event);
  void OnMachineExited(const std::string& name, const std::string& detail);
  void OnAgentChannel(const std::string& name, bool open);
  void NoteAgentRestart(const std::string& name, int attempts_left);
  // Asks the agent which it is (guest-info) and keeps the answer for
  // AgentKindOf, with an event when it is not the image's; then, for a boot
  // that just ended, starts what follows it (AfterBoot).
  void IdentifyAgent(const std::string& name, bool boot_ended);
  // A boot ended with its agent answering: its pid and the init status, from
  // kumo-agent only.
  void AfterBoot(const ServerRecord& r);
  void ForceStop(const std::string& name);
  // A force stop or delete asked again while one is under way: no more
  // grace, SIGKILL now (or finish from the record if nothing runs).
  void KillNow(const std::string& name);
  // A stop or delete wins over the boot a rescue / unrescue had planned.
  void CancelRelaunch(Runtime& rt);
  // Asks the guest to power off (its agent, or without one the power
  // button), then boots it again once QEMU has exited; forces it off if it
  // has not within `grace`.
  void PowerOffThenLaunch(const std::string& name, Milliseconds grace);
  void FinishDelete(const std::string& name);
  // Boots the server again in `boot_mode` as `task`: powered off first if it
  // runs; `message` opens the task in the timeline.
  Result<ServerRecord> Restart(const std::string& name, BootMode boot_mode, Task task,
                               const std::string& message);
  // The power button stop (server_power_button.cc), opened with `message`.
  Result<ServerRecord> PressPowerButtonToStop(const std::string& name, const std::string& message);
  // Consoles (server_console.cc).
  void StartConsole(const std::string& name, const std::string& run_dir);
  void StopConsole(Runtime& rt);
  // User data (server_user_data.cc): the NoCloud seed made at create.
  Status MakeSeed(const ServerRecord& r);
  void NoteUserDataWarnings(const ServerRecord& r);
  // Exec (server_exec.cc).
  void PollExec(std::shared_ptr<guestlink::GuestAgent> agent, const std::string& name, int64_t pid,
                int64_t give_up_ms, std::function<void(Result<ExecResult>)> done);

  boost::asio::io_context& io_;
  Clock& clock_;
  ServerLedger& ledger_;
  store::Store& store_;
  hypervisor::HypervisorDriver& driver_;
  guestlink::GuestAgentFactory connect_agent_;
  CoreConfig config_;
  Heartbeat heartbeat_;
  InitFollower init_follower_;
  std::map<std::string, std::unique_ptr<Runtime>> runtime_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace kumo::core
