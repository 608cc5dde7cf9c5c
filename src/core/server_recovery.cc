// ServerCore::Recover: after kumod (re)starts, every server's record is
// reconciled with what runs: QEMUs that outlived the old kumod are adopted
// again through their pidfile, and tasks that were under way are finished
// the way they would have been.
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
  for (const ServerRecord& r : ledger_.List()) {
    int64_t pid = r.qemu_pid;
    if (pid == 0 && !r.run_dir.empty()) {
      std::ifstream pidfile(r.run_dir + "/qemu.pid");
      pidfile >> pid;
    }
    const std::string name = r.name;
    if (pid == 0) {
      if (IsBootTask(r.task)) {
        Launch(name);  // the launch never got as far as QEMU
      } else if (r.task == Task::kDeleting) {
        FinishDelete(name);
      } else if (r.task != Task::kNone || r.power != Power::kOff) {
        Transition(name, "recovery", "no QEMU was running after kumod restarted",
                   [](ServerRecord& s) {
                     EndTask(s);
                     s.power = Power::kOff;
                   });
      }
      continue;
    }
    // The console first: it waits for QEMU's socket by itself, and a viewer
    // who attaches right after kumod restarted must not be told the server
    // is not running while QMP is still being reconnected.
    StartConsole(name, r.run_dir);
    driver_.Attach(
        MachineSpecOf(r), pid,
        [this, alive = std::weak_ptr<bool>(alive_), name](Result<std::shared_ptr<Machine>> m) {
          if (alive.expired()) return;
          auto r = ledger_.Get(name);
          if (!r.ok()) return;
          if (m.ok()) {
            Adopt(name, *m);
            if (r->qemu_pid == 0) {
              // Found through the pidfile: kumod died between starting QEMU and
              // writing it down, or an earlier recovery took it for gone.
              Transition(name, "recovery",
                         "QEMU found running after kumod restarted (pid " +
                             std::to_string((*m)->pid()) + ")",
                         [&](ServerRecord& s) {
                           s.power = Power::kRunning;
                           s.qemu_pid = (*m)->pid();
                         });
            }
            // A reset may have happened while kumod was away: the reboot ends
            // when the agent answers.
            heartbeat_.NoteReset(name);
            Runtime& rt = RuntimeOf(name);
            if (r->task == Task::kDeleting) {
              rt.delete_after_stop = true;
              ForceStop(name);
            } else if ((r->task == Task::kStarting || r->task == Task::kRescuing) &&
                       r->task_force) {
              rt.launch_after_stop = true;  // a restart whose stop had not finished
              heartbeat_.Pause(name);
              ForceStop(name);
            } else if (r->task == Task::kStopping && r->task_force) {
              ForceStop(name);
            } else if (r->task == Task::kStopping) {
              // kumod may have died before the guest was asked: ask again (a
              // second request to a guest already shutting down is harmless).
              rt.agent->Shutdown(guestlink::ShutdownMode::kPowerdown, [](Status) {});
            }
            return;
          }
          StopConsole(RuntimeOf(name));
          // QEMU ended while kumod was away: the console tells a power-off apart.
          bool powered_off = TailContains(r->run_dir + "/console.log", "reboot: Power down", 4096);
          bool was_stopping = r->task == Task::kStopping;
          bool deleting = r->task == Task::kDeleting;
          if (IsBootTask(r->task)) {
            Transition(name, "recovery", "QEMU was gone after kumod restarted; booting again",
                       [](ServerRecord& s) {
                         s.qemu_pid = 0;
                         s.power = Power::kOff;
                         s.task_force = false;
                       });
            Launch(name);
            return;
          }
          Transition(
              name, "recovery",
              powered_off || was_stopping ? "the guest powered off while kumod was not running"
                                          : "QEMU exited while kumod was not running",
              [&](ServerRecord& s) {
                if (!deleting) EndTask(s);
                s.qemu_pid = 0;
                s.agent = AgentState::kUnknown;
                s.power = powered_off || was_stopping || deleting ? Power::kOff : Power::kCrashed;
              });
          if (deleting) FinishDelete(name);
        });
  }
  heartbeat_.Start();
}

}  // namespace kumo::core
