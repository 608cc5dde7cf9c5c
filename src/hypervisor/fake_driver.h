// FakeDriver: machines without processes, for unit tests of the server core
// and for scale benchmarks. Each FakeMachine behaves like a QEMU seen through
// QMP (Quit → kShutdown then kExited; SystemReset → kReset; Kill → kExited),
// asynchronously on the event loop, and records what it was asked to do. A
// test can inject any event (a guest panic, a guest reboot, a crash) with
// Emit().
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/asio.h"
#include "hypervisor/event_queue.h"
#include "hypervisor/machine.h"

namespace kumo::hypervisor {

class FakeMachine : public Machine, public std::enable_shared_from_this<FakeMachine> {
 public:
  static std::shared_ptr<FakeMachine> Create(boost::asio::io_context& io, MachineSpec spec,
                                             int64_t pid);

  int64_t pid() const override { return pid_; }
  const MachinePaths& paths() const override { return spec_.paths; }
  void SetEventHandler(EventHandler handler) override { events_->SetHandler(std::move(handler)); }
  void Quit(Done done) override;
  void SystemReset(Done done) override;
  // Records the press; the guest powers off only if set_power_button_powers_off.
  void PowerButton(Done done) override;
  void Kill() override;
  bool alive() const override { return !exited_; }

  // --- for tests ---
  const MachineSpec& spec() const { return spec_; }
  int quit_count() const { return quit_count_; }
  int reset_count() const { return reset_count_; }
  int kill_count() const { return kill_count_; }
  int power_button_count() const { return power_button_count_; }
  // A guest that handles the ACPI power button (acpid): it powers off on a press.
  void set_power_button_powers_off(bool yes) { power_button_powers_off_ = yes; }
  // Delivers `event` as if QEMU reported it; kExited also ends the process
  // (alive() turns false when it is delivered to the machine, on the loop).
  void Emit(MachineEvent event);
  // The next Quit / SystemReset fails with `status`, changing nothing.
  void fail_next_quit(Status status) { fail_next_quit_ = std::move(status); }
  void fail_next_reset(Status status) { fail_next_reset_ = std::move(status); }
  // A new QMP connection to this process (after a kumod restart): the events
  // the old one had not delivered are lost, as they are with QEMU.
  void Reattach();
  // A wedged QEMU: Quit calls back ok but the process stays (only Kill ends it).
  void set_ignore_quit(bool ignore) { ignore_quit_ = ignore; }

 private:
  FakeMachine(boost::asio::io_context& io, MachineSpec spec, int64_t pid);
  void Post(std::function<void()> fn);

  boost::asio::io_context& io_;
  MachineSpec spec_;
  int64_t pid_;
  std::unique_ptr<EventQueue> events_;
  bool exited_ = false;
  int quit_count_ = 0;
  int reset_count_ = 0;
  int kill_count_ = 0;
  int power_button_count_ = 0;
  bool power_button_powers_off_ = false;
  std::optional<Status> fail_next_quit_;
  std::optional<Status> fail_next_reset_;
  bool ignore_quit_ = false;
};

class FakeDriver : public HypervisorDriver {
 public:
  explicit FakeDriver(boost::asio::io_context& io, int64_t first_pid = 100000)
      : io_(io), next_pid_(first_pid) {}

  // Calls back (from the loop) with a new running FakeMachine, unless
  // fail_next_launch was set (or, with set_validate_specs, ValidateSpec fails).
  // Like QEMU, the machine exists one loop step before the callback: a kumod
  // that dies in between leaves it running, known only to FindRunning.
  void Launch(const MachineSpec& spec, MachineReady done) override;
  // Calls back with this driver's running machine of that pid (the process
  // outlived the kumod that started it), or a new FakeMachine for `pid` (as
  // after a restart of the whole host's test fixture), unless
  // fail_next_attach was set, or that machine has exited (NotFound).
  void Attach(const MachineSpec& spec, int64_t pid, MachineReady done) override;
  // This driver's machines that have not exited, by run_dir.
  std::map<std::string, std::vector<int64_t>> FindRunning(
      const std::vector<MachinePaths>& machines) override;
  void KillStray(const MachinePaths& paths, int64_t pid) override;

  // --- for tests ---
  void fail_next_launch(Status status) { fail_next_launch_ = std::move(status); }
  void fail_next_attach(Status status) { fail_next_attach_ = std::move(status); }
  // Reject specs QemuDriver would reject (ValidateSpec). Off by default.
  void set_validate_specs(bool validate) { validate_specs_ = validate; }
  // Every machine launched from now on powers off on the ACPI power button.
  void set_power_button_powers_off(bool yes) { power_button_powers_off_ = yes; }
  // The latest machine launched or attached under that name, or null.
  std::shared_ptr<FakeMachine> machine(const std::string& name) const;
  int launch_count() const { return launch_count_; }
  // The kumod using this driver died: launches it asked for and that have
  // not spawned their machine yet never will (the machines already spawned
  // run on, like QEMU processes).
  void AbandonLaunches() { ++generation_; }
  // How many machines of that server have not exited.
  int running_count(const std::string& name) const;
  int attach_count() const { return attach_count_; }
  // Attaches wait (as QEMU's QMP handshake takes a while) until released.
  void hold_attaches(bool hold) { hold_attaches_ = hold; }
  void release_attaches();

 private:
  void Finish(MachineReady done, Result<std::shared_ptr<Machine>> result);

  boost::asio::io_context& io_;
  int64_t next_pid_;
  std::map<std::string, std::shared_ptr<FakeMachine>> machines_;  // the latest, by name
  std::vector<std::shared_ptr<FakeMachine>> all_;                 // every one ever made
  std::optional<Status> fail_next_launch_;
  std::optional<Status> fail_next_attach_;
  int launch_count_ = 0;
  int attach_count_ = 0;
  bool validate_specs_ = false;
  bool power_button_powers_off_ = false;
  bool hold_attaches_ = false;
  std::vector<std::function<void()>> held_attaches_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  int generation_ = 0;
};

}  // namespace kumo::hypervisor
