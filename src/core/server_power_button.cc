// ServerCore::StopByPowerButton: kumo stop --acpi, the ACPI power button;
// also the graceful stop of a server that runs no guest agent.
#include <string>

#include "core/server_core.h"
#include "core/server_runtime.h"
#include "core/task.h"

namespace kumo::core {

Result<ServerRecord> ServerCore::StopByPowerButton(const std::string& name) {
  return PressPowerButtonToStop(name, "power button pressed (ACPI)");
}

Result<ServerRecord> ServerCore::PressPowerButtonToStop(const std::string& name,
                                                        const std::string& message) {
  auto r = ledger_.Get(name);
  if (!r.ok()) return r;
  if (Status s = CheckIdle(*r); !s.ok()) return s;
  Runtime& rt = RuntimeOf(name);
  if (r->power == Power::kOff || !rt.machine || !rt.machine->alive()) {
    return Status(codes::kInvalidState, "server " + name + " is already stopped", "");
  }
  if (r->power != Power::kRunning) {
    return Status(codes::kInvalidState,
                  "server " + name + " is " + std::string(ToString(r->power)) +
                      ", so its guest cannot answer the power button",
                  "force stop it (kumo stop --force " + name + ")");
  }
  auto stopping = Transition(name, "task", message, [&](ServerRecord& s) {
    BeginTask(s, Task::kStopping, config_.stop_timeout, NowMs());
  });
  if (!stopping.ok()) return stopping;
  auto alive = std::weak_ptr<bool>(alive_);
  auto give_up = [this, alive, name](const std::string& why) {
    if (alive.expired()) return;
    auto r = ledger_.Get(name);
    // A force stop asked meanwhile is not this task to end.
    if (!r.ok() || r->task != Task::kStopping || r->task_force) return;
    Transition(name, "task", why, [](ServerRecord& s) { EndTask(s); });
  };
  rt.machine->PowerButton([give_up](Status s) {
    if (!s.ok()) give_up("the power button could not be pressed: " + s.message());
  });
  const auto seconds = std::to_string(config_.stop_timeout.count() / 1000);
  std::weak_ptr<hypervisor::Machine> machine = rt.machine;
  rt.power_button_alarm = clock_.After(config_.stop_timeout, [give_up, machine, seconds, name] {
    auto m = machine.lock();
    if (!m || !m->alive()) return;
    give_up("the guest ignored the power button (still running after " + seconds +
            " s); force stop it: kumo stop --force " + name);
  });
  return stopping;
}

}  // namespace kumo::core
