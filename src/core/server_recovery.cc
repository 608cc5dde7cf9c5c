// ServerCore::Recover: after kumod (re)starts, every server's record is
// reconciled with what runs: QEMUs that outlived the old kumod are adopted
// again (found in the process table, whatever the record says), and tasks
// that were under way are finished the way they would have been.
#include <fstream>

#include "core/server_runtime.h"
#include "core/task.h"

namespace kumo::core {

using hypervisor::Machine;

namespace {

bool TailContains(const std::string& path, const std::string& needle, size_t tail_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  std::streamoff start = size > static_cast<std::streamoff>(tail_bytes)
                             ? size - static_cast<std::streamoff>(tail_bytes)
                             : 0;
  in.seekg(start);
  std::string tail(static_cast<size_t>(size - start), '\0');
  in.read(tail.data(), static_cast<std::streamsize>(tail.size()));
  return tail.find(needle) != std::string::npos;
}

}  // namespace

void ServerCore::Recover() {
  const std::vector<ServerRecord> servers = ledger_.List();
  std::vector<hypervisor::MachinePaths> paths;
  for (const ServerRecord& r : servers) {
    if (!r.run_dir.empty()) paths.push_back({r.run_dir});
  }
  // The process table, not the record, says what runs: kumod may have died
  // after spawning QEMU and before writing its pid down.
  std::map<std::string, std::vector<int64_t>> running = driver_.FindRunning(paths);
  for (const ServerRecord& r : servers) {
    auto found = running.find(r.run_dir);
    RecoverServer(r, found == running.end() ? std::vector<int64_t>{} : found->second);
  }
  heartbeat_.Start();
}

void ServerCore::RecoverServer(const ServerRecord& r, const std::vector<int64_t>& pids) {
  const std::string name = r.name;
  // More than one: a launch was cut short (a QEMU still starting, say). The
  // one the record names is kept, if it names one; the others are strays.
  int64_t pid = pids.size() == 1 ? pids.front() : 0;
  if (pids.size() > 1) {
    for (int64_t found : pids) {
      if (found == r.qemu_pid) {
        pid = found;
      } else {
        driver_.KillStray({r.run_dir}, found);
      }
    }
  }
  if (pid == 0) return RecoverWithoutQemu(r);
  // The console first: it waits for QEMU's socket by itself, and a viewer
  // who attaches right after kumod restarted must not be told the server
  // is not running while QMP is still being reconnected.
  StartConsole(name, r.run_dir);
  RuntimeOf(name).launching = true;  // a delete meanwhile waits for the machine
  driver_.Attach(
      MachineSpecOf(r), pid,
      [this, alive = std::weak_ptr<bool>(alive_), name, pid](Result<std::shared_ptr<Machine>> m) {
        if (alive.expired()) return;
        auto it = runtime_.find(name);
        auto r = ledger_.Get(name);
        if (it == runtime_.end() || !r.ok()) {
          if (m.ok()) (*m)->Kill();  // the server is gone: nothing may run for it
          return;
        }
        Runtime& rt = *it->second;
        rt.launching = false;
        if (!m.ok()) {
          // It runs but cannot be driven: a QEMU kumod cannot stop is worse
          // than none, and the record must not say off while it runs.
          driver_.KillStray({r->run_dir}, pid);
          StopConsole(RuntimeOf(name));
          Transition(name, "recovery",
                     "QEMU (pid " + std::to_string(pid) +
                         ") could not be reached after kumod restarted, so it was killed: " +
                         m.status().message(),
                     [](ServerRecord&) {});
          if (auto again = ledger_.Get(name); again.ok()) RecoverWithoutQemu(*again);
          return;
        }
        // A force stop or a delete asked while attaching is in the record's
        // task: OnReattached carries it out.
        OnReattached(*r, *m);
      });
}

void ServerCore::OnReattached(const ServerRecord& r, std::shared_ptr<Machine> machine) {
  const std::string& name = r.name;
  Adopt(name, machine);
  if (r.qemu_pid != machine->pid() || r.power == Power::kOff) {
    // Found through the process table: kumod died between starting QEMU and
    // writing it down, or an earlier recovery took it for gone.
    Transition(
        name, "recovery",
        "QEMU found running after kumod restarted (pid " + std::to_string(machine->pid()) + ")",
        [&](ServerRecord& s) {
          s.power = Power::kRunning;
          s.qemu_pid = machine->pid();
        });
  }
  // A reset may have happened while kumod was away: the reboot ends when the
  // agent answers.
  heartbeat_.NoteReset(name);
  Runtime& rt = RuntimeOf(name);
  if (rt.agent) IdentifyAgent(name, /*boot_ended=*/false);
  // The reboot of a server without an agent is a restart: stop, then boot.
  const bool power_cycles = r.task == Task::kRebooting && !BootHasAgent(r);
  if (r.task == Task::kDeleting) {
    rt.delete_after_stop = true;
    ForceStop(name);
  } else if ((r.task == Task::kStarting || r.task == Task::kRescuing || power_cycles) &&
             r.task_force) {
    rt.launch_after_stop = true;  // a restart whose stop had not finished
    heartbeat_.Pause(name);
    ForceStop(name);
  } else if (r.task == Task::kStopping && r.task_force) {
    ForceStop(name);
  } else if (r.task == Task::kStopping) {
    // kumod may have died before the guest was asked: ask again (a second
    // request to a guest already shutting down is harmless).
    if (rt.agent) {
      rt.agent->Shutdown(guestlink::ShutdownMode::kPowerdown, [](Status) {});
    } else {
      machine->PowerButton([](Status) {});
    }
  } else if (!BootHasAgent(r) && (IsBootTask(r.task) || r.task == Task::kRebooting)) {
    // kumod died between starting QEMU and writing it down: without an agent
    // to wait for, the boot is done.
    Transition(name, "recovery", "QEMU is running; the server runs no guest agent to wait for",
               [](ServerRecord& s) {
                 s.agent = AgentState::kNone;
                 EndTask(s);
               });
  }
}

void ServerCore::RecoverWithoutQemu(const ServerRecord& r) {
  const std::string name = r.name;
  if (r.task == Task::kDeleting) return FinishDelete(name);
  // The reboot of a server without an agent is a stop and a boot: the boot
  // is still to come.
  const bool power_cycles = r.task == Task::kRebooting && !BootHasAgent(r);
  if (IsBootTask(r.task) || power_cycles) {
    if (r.power != Power::kOff || r.task_force || r.qemu_pid != 0) {
      // What ran is gone (or, for a restart, its stop had finished): boot.
      Transition(name, "recovery", "QEMU was not running after kumod restarted; booting again",
                 [](ServerRecord& s) {
                   s.qemu_pid = 0;
                   s.power = Power::kOff;
                   s.task_force = false;
                 });
    }
    return Launch(name);  // the launch never got as far as QEMU, or is redone
  }
  if (r.power == Power::kOff && r.task == Task::kNone) return;
  if (r.power == Power::kOff) {
    Transition(name, "recovery", "no QEMU was running after kumod restarted", [](ServerRecord& s) {
      EndTask(s);
      s.qemu_pid = 0;
    });
    return;
  }
  // QEMU ended while kumod was away: the console tells a power-off apart.
  bool powered_off = TailContains(r.run_dir + "/console.log", "reboot: Power down", 4096) ||
                     r.task == Task::kStopping;
  Transition(name, "recovery",
             powered_off ? "the guest powered off while kumod was not running"
                         : "QEMU exited while kumod was not running",
             [&](ServerRecord& s) {
               EndTask(s);
               s.qemu_pid = 0;
               s.agent = AgentState::kUnknown;
               s.power = powered_off ? Power::kOff : Power::kCrashed;
             });
}

}  // namespace kumo::core
