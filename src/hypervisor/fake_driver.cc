#include "hypervisor/fake_driver.h"

#include "hypervisor/qemu_argv.h"
#include "hypervisor/qmp_event.h"

namespace kumo::hypervisor {

namespace asio = boost::asio;
using Kind = MachineEvent::Kind;

std::shared_ptr<FakeMachine> FakeMachine::Create(asio::io_context& io, MachineSpec spec,
                                                 int64_t pid) {
  std::shared_ptr<FakeMachine> machine(new FakeMachine(io, std::move(spec), pid));
  machine->events_ = std::make_unique<EventQueue>(io, machine->weak_from_this());
  return machine;
}

FakeMachine::FakeMachine(asio::io_context& io, MachineSpec spec, int64_t pid)
    : io_(io), spec_(std::move(spec)), pid_(pid) {}

void FakeMachine::Post(std::function<void()> fn) {
  asio::post(io_, [weak = weak_from_this(), fn = std::move(fn)]() {
    if (weak.lock()) fn();
  });
}

void FakeMachine::Emit(MachineEvent event) {
  Post([this, event = std::move(event)]() {
    if (exited_) return;
    if (event.kind == Kind::kExited) exited_ = true;
    events_->Push(event);
  });
}

void FakeMachine::Reattach() {
  events_->SetHandler(nullptr);
  events_->DropKept();
}

void FakeMachine::Quit(Done done) {
  ++quit_count_;
  if (fail_next_quit_) {
    Status s = std::exchange(fail_next_quit_, std::nullopt).value();
    Post([done = std::move(done), s]() { done(s); });
    return;
  }
  const bool stays = ignore_quit_ || exited_;
  Post([done = std::move(done)]() { done(Status::Ok()); });
  if (stays) return;
  const std::string reason = "host-qmp-quit";
  Emit(MachineEvent{Kind::kShutdown, false, reason});
  Emit(MachineEvent{Kind::kExited, false, ExitDetail(reason, false)});
}

void FakeMachine::SystemReset(Done done) {
  ++reset_count_;
  if (fail_next_reset_) {
    Status s = std::exchange(fail_next_reset_, std::nullopt).value();
    Post([done = std::move(done), s]() { done(s); });
    return;
  }
  if (exited_) {
    Post([done = std::move(done)]() {
      done(Status(codes::kHypervisorError, "cannot run QMP system_reset: QEMU is not running"));
    });
    return;
  }
  Post([done = std::move(done)]() { done(Status::Ok()); });
  Emit(MachineEvent{Kind::kReset, false, "host-qmp-system-reset"});
}

void FakeMachine::PowerButton(Done done) {
  ++power_button_count_;
  if (exited_) {
    Post([done = std::move(done)]() {
      done(Status(codes::kHypervisorError, "cannot run QMP system_powerdown: QEMU is not running"));
    });
    return;
  }
  Post([done = std::move(done)]() { done(Status::Ok()); });
  if (power_button_powers_off_) {
    Emit(MachineEvent{Kind::kShutdown, true, "guest-shutdown"});
    Emit(MachineEvent{Kind::kExited, false, ""});
  }
}

void FakeMachine::Kill() {
  ++kill_count_;
  Emit(MachineEvent{Kind::kExited, false, ExitDetail("", true)});
}

void FakeDriver::Finish(MachineReady done, Result<std::shared_ptr<Machine>> result) {
  asio::post(io_, [done = std::move(done), result = std::move(result)]() { done(result); });
}

void FakeDriver::Launch(const MachineSpec& spec, MachineReady done) {
  ++launch_count_;
  if (fail_next_launch_) {
    return Finish(std::move(done), std::exchange(fail_next_launch_, std::nullopt).value());
  }
  if (validate_specs_) {
    if (Status s = ValidateSpec(spec); !s.ok()) return Finish(std::move(done), s);
  }
  asio::post(io_, [this, alive = std::weak_ptr<bool>(alive_), generation = generation_, spec,
                   done = std::move(done)]() mutable {
    // Gone with the driver (the whole "host"), or with the kumod that asked.
    if (alive.expired() || generation != generation_) return;
    auto machine = FakeMachine::Create(io_, spec, next_pid_++);
    machine->set_power_button_powers_off(power_button_powers_off_);
    machines_[spec.name] = machine;
    all_.push_back(machine);
    Finish(std::move(done), std::shared_ptr<Machine>(machine));
  });
}

void FakeDriver::release_attaches() {
  hold_attaches_ = false;
  for (auto& attach : std::exchange(held_attaches_, {})) attach();
}

void FakeDriver::Attach(const MachineSpec& spec, int64_t pid, MachineReady done) {
  if (hold_attaches_) {
    held_attaches_.push_back([this, spec, pid, done = std::move(done)]() mutable {
      Attach(spec, pid, std::move(done));
    });
    return;
  }
  ++attach_count_;
  if (fail_next_attach_) {
    return Finish(std::move(done), std::exchange(fail_next_attach_, std::nullopt).value());
  }
  for (auto it = all_.rbegin(); it != all_.rend(); ++it) {
    if ((*it)->pid() != pid) continue;
    if (!(*it)->alive()) {
      return Finish(std::move(done),
                    Status(codes::kNotFound, "no process with pid " + std::to_string(pid)));
    }
    machines_[spec.name] = *it;
    (*it)->Reattach();
    return Finish(std::move(done), std::shared_ptr<Machine>(*it));
  }
  auto machine = FakeMachine::Create(io_, spec, pid);
  machines_[spec.name] = machine;
  all_.push_back(machine);
  Finish(std::move(done), std::shared_ptr<Machine>(machine));
}

std::map<std::string, std::vector<int64_t>> FakeDriver::FindRunning(
    const std::vector<MachinePaths>& machines) {
  std::map<std::string, std::vector<int64_t>> found;
  for (const MachinePaths& paths : machines) {
    for (const auto& m : all_) {
      if (m->alive() && m->paths().run_dir == paths.run_dir)
        found[paths.run_dir].push_back(m->pid());
    }
  }
  return found;
}

void FakeDriver::KillStray(const MachinePaths& paths, int64_t pid) {
  for (const auto& m : all_) {
    if (m->pid() == pid && m->paths().run_dir == paths.run_dir && m->alive()) m->Kill();
  }
}

int FakeDriver::running_count(const std::string& name) const {
  int n = 0;
  for (const auto& m : all_) n += m->alive() && m->spec().name == name;
  return n;
}

std::shared_ptr<FakeMachine> FakeDriver::machine(const std::string& name) const {
  auto it = machines_.find(name);
  return it == machines_.end() ? nullptr : it->second;
}

}  // namespace kumo::hypervisor
