// ServerCore and its QEMUs: launching and adopting machines, what their
// events mean for the server's facts, forcing them off, and the end of a
// server once its machine is gone.
#include <filesystem>
#include <utility>

#include "core/server_runtime.h"
#include "core/task.h"

namespace kumo::core {

using hypervisor::Machine;
using hypervisor::MachineEvent;

namespace {
// Resets this close together, with no agent answer between, are one reboot.
constexpr int64_t kOneRebootMs = 5000;
// How often a restarted agent is asked its pid before the note goes without.
constexpr int kAgentPidAttempts = 4;
}  // namespace

int64_t AgentPidOf(const Result<nlohmann::json>& health) {
  if (!health.ok() || !health->is_object()) return 0;
  auto it = health->find("agent_pid");
  return it != health->end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

void ServerCore::Launch(const std::string& name) {
  auto r = ledger_.Get(name);
  if (!r.ok()) return;
  Runtime& rt = RuntimeOf(name);
  rt.guest_powered_off = false;
  rt.force_stopping = false;
  rt.launching = true;
  StartConsole(name, r->run_dir);
  driver_.Launch(MachineSpecOf(*r), [this, alive = std::weak_ptr<bool>(alive_),
                                     name](Result<std::shared_ptr<Machine>> m) {
    if (alive.expired()) return;
    OnLaunched(name, std::move(m));
  });
}

void ServerCore::OnLaunched(const std::string& name, Result<std::shared_ptr<Machine>> m) {
  auto it = runtime_.find(name);
  auto r = ledger_.Get(name);
  if (it == runtime_.end() || !r.ok()) {
    if (m.ok()) (*m)->Kill();  // the server was deleted meanwhile: nothing may run for it
    return;
  }
  Runtime& rt = *it->second;
  rt.launching = false;
  if (!m.ok()) {
    StopConsole(rt);
    if (rt.delete_after_stop || r->task == Task::kDeleting) return FinishDelete(name);
    const bool forced = rt.force_stopping;
    rt.force_stopping = false;
    Transition(
        name, "qemu",
        forced ? "stopped (forced) before QEMU started" : "start failed: " + m.status().message(),
        [&](ServerRecord& s) {
          EndTask(s);
          s.power = forced ? Power::kOff : Power::kCrashed;
          s.qemu_pid = 0;
        });
    return;
  }
  const bool has_agent = BootHasAgent(*r);
  std::string started = "QEMU started (pid " + std::to_string((*m)->pid()) + ")";
  // Without an agent nothing in the guest will ever say it booted: the boot
  // ends here, and the status says what kumo cannot know.
  if (!has_agent) {
    started += "; the server runs no guest agent, so kumo cannot tell whether its OS is up";
  }
  auto launched = Transition(name, "qemu", started, [&](ServerRecord& s) {
    s.power = Power::kRunning;
    s.agent = has_agent ? AgentState::kUnknown : AgentState::kNone;
    s.qemu_pid = (*m)->pid();
    if (!has_agent && (IsBootTask(s.task) || s.task == Task::kRebooting)) EndTask(s);
  });
  if (!has_agent && launched.ok() && !launched->user_data.empty()) {
    (void)ledger_.Note(name, "init",
                       "init status not available: the server runs no guest agent to report it");
  }
  Adopt(name, *m);
  // A force stop or a delete came while QEMU was starting: it wins.
  if (rt.force_stopping) ForceStop(name);
}

void ServerCore::Adopt(const std::string& name, std::shared_ptr<Machine> machine) {
  Runtime& rt = RuntimeOf(name);
  rt.machine = machine;
  StartConsole(name, machine->paths().run_dir);
  if (rt.agent) rt.agent->Close();
  rt.agent.reset();
  rt.agent_seen.clear();
  if (auto r = ledger_.Get(name); r.ok() && BootHasAgent(*r)) {
    rt.agent = connect_agent_(machine->paths().agent_socket());
    heartbeat_.Watch(name, rt.agent);
  } else {
    heartbeat_.Forget(name);
  }
  machine->SetEventHandler(
      [this, alive = std::weak_ptr<bool>(alive_), name](const MachineEvent& e) {
        if (!alive.expired()) OnMachineEvent(name, e);
      });
}

void ServerCore::OnMachineEvent(const std::string& name, const MachineEvent& e) {
  auto it = runtime_.find(name);
  if (it == runtime_.end()) return;
  Runtime& rt = *it->second;
  switch (e.kind) {
    case MachineEvent::Kind::kShutdown:
      // A guest's reboot is a SHUTDOWN too (reason guest-reset), followed by a RESET.
      if (e.guest_initiated && e.detail == "guest-shutdown") rt.guest_powered_off = true;
      return;
    case MachineEvent::Kind::kReset: {
      heartbeat_.NoteReset(name);
      // One reboot may reset the machine more than once (the kernel trying
      // one reset method after another): it is one reboot in the timeline.
      const int64_t now = NowMs();
      const bool same_reboot = rt.last_reset_ms && now - rt.last_reset_ms < kOneRebootMs;
      rt.last_reset_ms = now;
      auto r = ledger_.Get(name);
      if (!r.ok()) return;
      // Without an agent, the reset is all there is to wait for.
      const bool has_agent = BootHasAgent(*r);
      if (same_reboot && (r->agent == AgentState::kUnknown || !has_agent)) return;
      Transition(name, "qemu", e.guest_initiated ? "the guest rebooted" : "the guest was reset",
                 [has_agent](ServerRecord& s) {
                   s.agent = has_agent ? AgentState::kUnknown : AgentState::kNone;
                   if (!has_agent && s.task == Task::kRebooting) EndTask(s);
                 });
      return;
    }
    case MachineEvent::Kind::kPanicked:
      Transition(name, "qemu", "guest kernel panicked" + (e.detail.empty() ? "" : ": " + e.detail),
                 [](ServerRecord& s) {
                   s.power = Power::kCrashed;
                   if (IsBootTask(s.task) || s.task == Task::kRebooting) EndTask(s);
                 });
      return;
    case MachineEvent::Kind::kStopped:
      // A panicked guest is paused too: that pause is not news, the panic is.
      if (auto r = ledger_.Get(name); r.ok() && r->power == Power::kRunning) {
        Transition(name, "qemu", "the guest was paused",
                   [](ServerRecord& s) { s.power = Power::kPaused; });
      }
      return;
    case MachineEvent::Kind::kResumed:
      if (auto r = ledger_.Get(name); r.ok() && r->power == Power::kPaused) {
        Transition(name, "qemu", "the guest was resumed",
                   [](ServerRecord& s) { s.power = Power::kRunning; });
      }
      return;
    case MachineEvent::Kind::kExited:
      OnMachineExited(name, e.detail);
      return;
    case MachineEvent::Kind::kAgentChannel:
      OnAgentChannel(name, e.detail == "open");
      return;
  }
}

// An agent that dies and is respawned within a heartbeat (busybox init takes
// about a second) would leave no trace: the guest closing and reopening its
// channel tells, a reboot aside. The agent that reopens it is asked which it
// is: the user may have replaced qemu-ga by kumo-agent.
void ServerCore::OnAgentChannel(const std::string& name, bool open) {
  Runtime& rt = RuntimeOf(name);
  if (!open) {
    rt.agent_channel_closed_ms = NowMs();
    return;
  }
  // The heartbeat's ping written before the agent opened its port was lost:
  // ask again now rather than a tick later (the boot ends on its answer).
  if (rt.agent) rt.agent->ChannelOpened();
  const int64_t closed = std::exchange(rt.agent_channel_closed_ms, 0);
  auto r = ledger_.Get(name);
  if (!closed || rt.last_reset_ms >= closed || !r.ok() || r->power != Power::kRunning ||
      !rt.agent) {
    return;
  }
  // Another agent may answer now: kumo-agent installed in place of qemu-ga.
  IdentifyAgent(name, /*boot_ended=*/false);
  if (r->task != Task::kNone) return;
  NoteAgentRestart(name, kAgentPidAttempts);
}

// Asks the restarted agent its pid for the note. Right after the restart the
// link may still be waiting out requests the dead agent never answered: a
// silent agent is asked again, a second apart; a stock one (no kumo-health)
// is not.
void ServerCore::NoteAgentRestart(const std::string& name, int attempts_left) {
  auto agent = AgentOf(name);
  if (!agent) return;
  agent->Health(
      [this, alive = std::weak_ptr<bool>(alive_), name, attempts_left](Result<nlohmann::json> h) {
        if (alive.expired()) return;
        auto it = runtime_.find(name);
        if (it == runtime_.end()) return;
        Runtime& rt = *it->second;
        const int64_t now = AgentPidOf(h);
        if (!now && attempts_left > 1 && h.status().code() == codes::kGuestAgentNotResponding) {
          rt.agent_pid_alarm = clock_.After(std::chrono::seconds(1), [this, name, attempts_left] {
            NoteAgentRestart(name, attempts_left - 1);
          });
          return;
        }
        std::string pids;
        if (rt.agent_pid && now) {
          pids = " (pid " + std::to_string(rt.agent_pid) + " → " + std::to_string(now) + ")";
        } else if (now) {
          pids = " (now pid " + std::to_string(now) + ")";
        }
        if (now) rt.agent_pid = now;
        ledger_.Note(name, "agent", "guest agent restarted in the guest" + pids);
      });
}

void ServerCore::OnMachineExited(const std::string& name, const std::string& detail) {
  Runtime& rt = RuntimeOf(name);
  bool wanted = rt.force_stopping;
  bool powered_off = rt.guest_powered_off;
  bool delete_after = rt.delete_after_stop;
  bool launch_after = rt.launch_after_stop && !delete_after;
  rt.launch_after_stop = false;
  rt.kill_alarm.reset();
  rt.restart_alarm.reset();
  rt.power_button_alarm.reset();
  if (rt.agent) rt.agent->Close();
  rt.agent.reset();
  rt.agent_seen.clear();
  rt.machine.reset();
  heartbeat_.Forget(name);
  init_follower_.Forget(name);
  StopConsole(rt);
  rt.force_stopping = false;
  rt.delete_after_stop = false;
  auto r = ledger_.Get(name);
  if (!r.ok()) return;
  bool stopping = r->task == Task::kStopping;
  bool clean = wanted || stopping || powered_off;
  std::string message;
  if (wanted) {
    message = "stopped (forced)";
  } else if (powered_off || stopping) {
    message = "the guest powered off";
  } else if (r->power == Power::kCrashed) {
    message = "QEMU exited after the guest crashed";
  } else {
    message = "QEMU exited unexpectedly" + (detail.empty() ? "" : ": " + detail);
  }
  if (launch_after) {
    Transition(name, "qemu", "stopped, booting again", [&](ServerRecord& s) {
      s.qemu_pid = 0;
      s.agent = AgentState::kUnknown;
      s.power = Power::kOff;
      s.task_force = false;  // the forced part (the stop) is done
    });
    Launch(name);
    return;
  }
  Transition(name, "qemu", message, [&](ServerRecord& s) {
    s.qemu_pid = 0;
    s.agent = AgentState::kUnknown;
    if (s.task != Task::kDeleting) EndTask(s);
    s.power = clean ? Power::kOff : Power::kCrashed;
  });
  if (delete_after) FinishDelete(name);
}

void ServerCore::ForceStop(const std::string& name) {
  Runtime& rt = RuntimeOf(name);
  rt.force_stopping = true;
  if (rt.launching) return;  // OnLaunched stops it as it arrives
  if (!rt.machine || !rt.machine->alive()) {
    // Nothing runs: the record only needs to say so.
    if (rt.machine) return;  // its kExited is on the way
    boost::asio::post(io_, [this, alive = std::weak_ptr<bool>(alive_), name] {
      if (!alive.expired()) OnMachineExited(name, "");
    });
    return;
  }
  std::shared_ptr<Machine> machine = rt.machine;
  machine->Quit([](Status) {});  // failure is fine: the alarm below kills
  rt.kill_alarm = clock_.After(config_.force_kill_after, [machine] {
    if (machine->alive()) machine->Kill();
  });
}

void ServerCore::CancelRelaunch(Runtime& rt) {
  rt.launch_after_stop = false;
  rt.restart_alarm.reset();
}

void ServerCore::KillNow(const std::string& name) {
  Runtime& rt = RuntimeOf(name);
  if (rt.machine && rt.machine->alive()) return rt.machine->Kill();
  if (rt.launching || rt.machine) return;  // its launch, or its exit, is on the way
  // Nothing runs and nothing will report: finish from the record.
  boost::asio::post(io_, [this, alive = std::weak_ptr<bool>(alive_), name] {
    if (alive.expired()) return;
    auto r = ledger_.Get(name);
    if (!r.ok()) return;
    if (r->task == Task::kDeleting) return FinishDelete(name);
    OnMachineExited(name, "");
  });
}

// Asks the guest to power off, so that what was written in it (a password
// set in the rescue shell, say) reaches its disk, and boots again once QEMU
// has exited; forces it off if it has not within `grace`. A guest without an
// agent is asked through its power button.
void ServerCore::PowerOffThenLaunch(const std::string& name, Milliseconds grace) {
  Runtime& rt = RuntimeOf(name);
  rt.launch_after_stop = true;
  heartbeat_.Pause(name);
  auto force = [this, alive = std::weak_ptr<bool>(alive_), name](const std::string& why) {
    if (alive.expired()) return;
    auto it = runtime_.find(name);
    if (it == runtime_.end() || !it->second->machine || it->second->force_stopping) return;
    Transition(name, "task", why + "; forcing it off", [](ServerRecord&) {});
    ForceStop(name);
  };
  if (rt.agent) {
    rt.agent->Shutdown(guestlink::ShutdownMode::kPowerdown, [force](Status s) {
      if (!s.ok()) force("the guest refused to power off: " + s.message());
    });
  } else {
    rt.machine->PowerButton([force](Status s) {
      if (!s.ok()) force("the power button could not be pressed: " + s.message());
    });
  }
  std::weak_ptr<Machine> machine = rt.machine;
  rt.restart_alarm = clock_.After(grace, [force, machine, grace] {
    auto m = machine.lock();
    if (!m || !m->alive()) return;
    force("the guest did not power off within " + std::to_string(grace.count() / 1000) + " s");
  });
}

void ServerCore::FinishDelete(const std::string& name) {
  auto r = ledger_.Get(name);
  if (!r.ok()) return;
  if (auto it = runtime_.find(name); it != runtime_.end()) {
    if (it->second->agent) it->second->agent->Close();
    StopConsole(*it->second);
    runtime_.erase(it);
  }
  heartbeat_.Forget(name);
  init_follower_.Forget(name);
  std::error_code ec;
  if (!r->run_dir.empty()) std::filesystem::remove_all(r->run_dir, ec);
  ledger_.Delete(name);
}

}  // namespace kumo::core
