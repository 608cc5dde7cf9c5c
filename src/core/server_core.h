// ServerCore is the one owner of servers (STYLE.md rule 3): the API validates
// requests and hands them here; only the core changes a server. It runs every
// operation (create, start, stop, reboot, delete) as a task, one per server at
// a time, drives the hypervisor driver and the guest agent link, watches the
// agent's heartbeat, and writes every change to the store, with an event that
// says why, before anyone can read it.
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
#include "common/status.h"
#include "console/console_broker.h"
#include "core/init_report.h"
#include "core/server_spec.h"
#include "core/server_status.h"
#include "guestlink/agent_link.h"
#include "hypervisor/machine.h"
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
};

struct ExecRequest {
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

class ServerCore {
 public:
  ServerCore(boost::asio::io_context& io, store::Store& store, hypervisor::HypervisorDriver& driver,
             CoreConfig config);
  ~ServerCore();
  ServerCore(const ServerCore&) = delete;
  ServerCore& operator=(const ServerCore&) = delete;

  // Re-attaches to the QEMUs that outlived a previous kumod, reconciles tasks
  // that were in flight, and starts the heartbeat.
  void Recover();

  // Operations: validated and accepted (the returned record shows the task
  // under way) or refused with nothing changed.
  Result<store::ServerRecord> Create(const ServerSpec& spec);
  Result<store::ServerRecord> Start(const std::string& name);
  Result<store::ServerRecord> Stop(const std::string& name, bool force);
  Result<store::ServerRecord> Reboot(const std::string& name, bool force);
  Result<store::ServerRecord> Delete(const std::string& name, bool force);

  // Restarts the server into rescue mode: a single-user boot with a root
  // shell on the serial console, no password. A running guest is asked to
  // power off first (through its agent) and forced off only if it cannot be
  // asked or has not powered off within restart_grace.
  Result<store::ServerRecord> Rescue(const std::string& name);
  // Restarts a server in rescue mode into a normal boot.
  Result<store::ServerRecord> Unrescue(const std::string& name);

  // Sets a user's password in the guest through its agent
  // (guest-set-user-password). Needs the agent answering.
  void SetPassword(const std::string& name, const std::string& user, const std::string& password,
                   std::function<void(Status)> done);

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

  Result<store::ServerRecord> Get(const std::string& name) const;
  std::vector<store::ServerRecord> List() const;
  Result<std::vector<store::EventRecord>> Events(const std::string& name, int64_t after_id,
                                                 int limit) const;

  Status RegisterImage(const store::ImageRecord& image);
  std::vector<store::ImageRecord> Images() const;

  static int64_t NowMs();

 private:
  struct Runtime;
  using Change = std::function<void(store::ServerRecord&)>;

  // Applies `change` to the stored server, derives its status, persists it
  // with an event (kind, message) and returns the new record.
  Result<store::ServerRecord> Transition(const std::string& name, const std::string& kind,
                                         const std::string& message, const Change& change);
  // Appends an event to the timeline; the status and its reason stay.
  void Note(const std::string& name, const std::string& kind, const std::string& message);
  Result<store::ServerRecord> Load(const std::string& name) const;
  Status CheckIdle(const store::ServerRecord& r) const;
  hypervisor::MachineSpec MachineSpecOf(const store::ServerRecord& r) const;

  void Launch(const std::string& name);
  void Adopt(const std::string& name, std::shared_ptr<hypervisor::Machine> machine);
  void OnMachineEvent(const std::string& name, const hypervisor::MachineEvent& event);
  void OnMachineExited(const std::string& name, const std::string& detail);
  void ForceStop(const std::string& name);
  void StartConsole(const std::string& name, const std::string& run_dir);
  void StopConsole(Runtime& rt);
  // User data (server_user_data.cc): the NoCloud seed made at create, and
  // what kumo-init reported after a boot, into the timeline.
  Status MakeSeed(const store::ServerRecord& r);
  void NoteUserDataWarnings(const std::string& name, const std::string& user_data);
  void CollectInitResults(const std::string& name);
  void PollInitStatus(const std::string& name, std::shared_ptr<guestlink::AgentLink> agent,
                      int64_t give_up_ms);
  // REQUIRES: report.finished.
  void ReportInitSteps(const std::string& name, const InitReport& report);
  Result<store::ServerRecord> Restart(const std::string& name, const std::string& boot_mode);
  void PowerOffThenLaunch(const std::string& name);
  void FinishDelete(const std::string& name);

  std::shared_ptr<guestlink::AgentLink> AgentOf(const std::string& name) const;
  void PollExec(std::shared_ptr<guestlink::AgentLink> agent, int64_t pid, int64_t give_up_ms,
                std::function<void(Result<ExecResult>)> done);
  void ScheduleHeartbeat();
  void Heartbeat();
  void OnPing(const std::string& name, bool answered);
  void CheckDeadlines();

  boost::asio::io_context& io_;
  store::Store& store_;
  hypervisor::HypervisorDriver& driver_;
  CoreConfig config_;
  boost::asio::steady_timer heartbeat_timer_;
  std::map<std::string, std::unique_ptr<Runtime>> runtime_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace kumo::core
