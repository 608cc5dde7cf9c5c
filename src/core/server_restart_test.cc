// Restart safety: kumod is killed between two steps of an operation — after
// every event-loop handler and every alarm in turn, not at random — and a
// new kumod starts on the same store while the host's QEMUs run on. Each
// operation must then end as if nothing had happened: at most one QEMU per
// server, QEMU alive exactly when the record says running (with its pid),
// the QEMU kept when the server was meant to keep running, no task left
// under way, and a store that passes SQLite's integrity check.
//
// The host is simulated (FakeDriver machines, FakeGuestAgents that power off
// or reboot their machine when asked, a SimulatedClock); the store is a real
// SQLite file reopened by each kumod.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/server_core.h"
#include "hypervisor/fake_driver.h"
#include "store/sqlite_store.h"
#include "support/child_process.h"
#include "support/core_fixtures.h"
#include "support/fake_guest_agent.h"
#include "support/simulated_clock.h"

namespace kumo::core {
namespace {

using guestlink::ShutdownMode;
using hypervisor::FakeDriver;
using hypervisor::MachineEvent;
using testing::FakeGuestAgent;
using namespace std::chrono_literals;

constexpr char kName[] = "s";

// One host: the store's file and the QEMUs (the driver's machines) outlive
// each kumod (a store connection, a ledger and a core).
class Host {
 public:
  Host() {
    config_ = testing::SimulatedCoreConfig(dir_.path().string());
    config_.delete_timeout = 5s;
    // kumo's rescue system (its files only need to exist).
    testing::WriteFile((dir_.path() / "vmlinuz").string(), "kernel");
    testing::WriteFile((dir_.path() / "initrd.img").string(), "initramfs");
    config_.rescue_kernel = (dir_.path() / "vmlinuz").string();
    config_.rescue_initrd = (dir_.path() / "initrd.img").string();
    StartKumod();
    EXPECT_TRUE(core_->RegisterImage(testing::TestImage()).ok());
    // An image without an agent: its guest stops on the power button.
    ImageRecord plain{"plain", "", "", "/img/plain.qcow2", "", "", 1};
    plain.agent_kind = "none";
    EXPECT_TRUE(core_->RegisterImage(plain).ok());
    driver_.set_power_button_powers_off(true);
  }

  void StartKumod() {
    auto opened = store::SqliteStore::Open((dir_.path() / "kumod.db").string());
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    store_ = std::move(*opened);
    ledger_ = std::make_unique<ServerLedger>(*store_, clock_);
    core_ = std::make_unique<ServerCore>(
        CoreParts{io_, clock_, *ledger_, *store_, driver_,
                  [this](const std::string& socket) { return ConnectAgent(socket); }},
        config_);
    core_->Recover();
  }

  // kill -9: everything kumod held in memory is gone; what it had not yet
  // handed to the host (a launch not yet spawned) never happens.
  void KillKumod() {
    core_.reset();
    ledger_.reset();
    store_.reset();
    driver_.AbandonLaunches();
  }

  ServerCore& core() { return *core_; }
  FakeDriver& driver() { return driver_; }
  testing::SimulatedClock& clock() { return clock_; }
  store::SqliteStore& store() { return *store_; }

  bool RunUntil(const std::function<bool()>& pred, std::chrono::milliseconds limit = 20s) {
    return clock_.RunUntil(pred, limit);
  }
  std::optional<ServerRecord> Record() {
    auto r = core_->Get(kName);
    return r.ok() ? std::optional<ServerRecord>(*r) : std::nullopt;
  }
  // Settled: no task, and the status the operation leads to.
  bool Settled(const std::string& status) {
    auto r = Record();
    if (status == "gone") return !r && driver_.running_count(kName) == 0;
    return r && r->task == Task::kNone && ToString(r->status) == status;
  }

 private:
  // The guest's agent at each boot; the guest does what it is asked.
  std::shared_ptr<guestlink::GuestAgent> ConnectAgent(const std::string&) {
    auto agent = std::make_shared<FakeGuestAgent>(io_, clock_);
    // A rescue boot's agent says it is the rescue system.
    if (auto m = driver_.machine(kName);
        m && m->spec().cmdline.find("kumo.rescue") != std::string::npos) {
      agent->set_agent_role("rescue");
    }
    agent->set_on_shutdown([this](ShutdownMode mode) {
      auto machine = driver_.machine(kName);
      if (!machine || !machine->alive()) return;
      if (mode == ShutdownMode::kReboot) {
        machine->Emit({MachineEvent::Kind::kReset, true, "guest-reset"});
        return;
      }
      machine->Emit({MachineEvent::Kind::kShutdown, true, "guest-shutdown"});
      machine->Emit({MachineEvent::Kind::kExited, false, ""});
    });
    return agent;
  }

  testing::TempDir dir_;
  boost::asio::io_context io_;
  testing::SimulatedClock clock_{io_};
  CoreConfig config_;
  FakeDriver driver_{io_};
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<ServerLedger> ledger_;
  std::unique_ptr<ServerCore> core_;
};

enum class Before { kNone, kRunning, kStopped, kRescueRunning };

struct Operation {
  const char* name;
  Before before;
  std::function<Status(ServerCore&)> run;
  const char* ends;  // the status it leads to, or "gone"
  bool same_qemu;    // the QEMU that ran before must be the one that runs after
  BootMode boot_mode = BootMode::kNormal;
  const char* image = "kumo-guest";  // "plain": an image that runs no agent
};

void PrintTo(const Operation& op, std::ostream* os) { *os << op.name; }

ServerSpec Spec(const char* image = "kumo-guest") {
  ServerSpec s;
  s.name = kName;
  s.image = image;
  return s;
}

void Prepare(Host& host, Before before, const char* image) {
  if (before == Before::kNone) return;
  ASSERT_TRUE(host.core().Create(Spec(image)).ok());
  ASSERT_TRUE(host.RunUntil([&] { return host.Settled("running"); }));
  if (before == Before::kStopped) {
    ASSERT_TRUE(host.core().Stop(kName, false).ok());
    ASSERT_TRUE(host.RunUntil([&] { return host.Settled("stopped"); }));
  } else if (before == Before::kRescueRunning) {
    ASSERT_TRUE(host.core().Rescue(kName).ok());
    ASSERT_TRUE(host.RunUntil([&] { return host.Settled("running"); }));
  }
}

// Runs the operation on a fresh host; kills kumod after `kill_after` steps
// (never, if negative) and restarts it. Returns the steps the operation took
// to settle without a kill, or -1 after reporting a failure.
int RunWithKill(const Operation& op, int kill_after) {
  const std::string where =
      std::string(op.name) +
      (kill_after < 0 ? "" : ", kumod killed after step " + std::to_string(kill_after));
  Host host;
  Prepare(host, op.before, op.image);
  if (::testing::Test::HasFatalFailure()) return -1;
  const int64_t pid_before = host.Record() ? host.Record()->qemu_pid : 0;
  if (Status s = op.run(host.core()); !s.ok()) {
    ADD_FAILURE() << where << ": refused: " << s.message();
    return -1;
  }
  int steps = 0;
  if (kill_after >= 0) {
    while (steps < kill_after) steps += host.clock().Step(50ms) ? 1 : 0;
    host.KillKumod();
    host.StartKumod();
    if (::testing::Test::HasFatalFailure()) return -1;
  } else {
    for (; !host.Settled(op.ends) && steps < 5000; steps += host.clock().Step(50ms) ? 1 : 0) {
    }
  }
  if (!host.RunUntil([&] { return host.Settled(op.ends); }, 30s)) {
    auto r = host.Record();
    ADD_FAILURE() << where << ": never settled as " << op.ends << "; status "
                  << (r ? ToString(r->status) : "gone") << ", task "
                  << (r ? ToString(r->task) : "-") << ", reason '" << (r ? r->status_reason : "")
                  << "'";
    return -1;
  }
  host.clock().Advance(3s);  // settled for good, not just passing through

  FakeDriver& driver = host.driver();
  EXPECT_LE(driver.running_count(kName), 1) << where << ": two QEMUs for one server";
  EXPECT_TRUE(host.Settled(op.ends)) << where << ": did not stay " << op.ends;
  if (auto r = host.Record()) {
    const bool qemu_alive = driver.running_count(kName) == 1;
    EXPECT_EQ(r->power == Power::kRunning, qemu_alive)
        << where << ": power " << ToString(r->power) << " while QEMU "
        << (qemu_alive ? "runs" : "does not run");
    EXPECT_EQ(r->qemu_pid, qemu_alive ? driver.machine(kName)->pid() : 0) << where;
    EXPECT_EQ(r->task, Task::kNone) << where << ": a task stuck";
    EXPECT_EQ(r->boot_mode, op.boot_mode) << where;
    if (op.same_qemu) EXPECT_EQ(r->qemu_pid, pid_before) << where << ": the QEMU was replaced";
  }
  Status integrity = host.store().CheckIntegrity();
  EXPECT_TRUE(integrity.ok()) << where << ": " << integrity.message();
  return steps;
}

const std::vector<Operation>& Operations() {
  static const std::vector<Operation> ops = {
      {"create", Before::kNone, [](ServerCore& c) { return c.Create(Spec()).status(); }, "running",
       false},
      {"start", Before::kStopped, [](ServerCore& c) { return c.Start(kName).status(); }, "running",
       false},
      {"stop", Before::kRunning, [](ServerCore& c) { return c.Stop(kName, false).status(); },
       "stopped", false},
      {"force stop", Before::kRunning, [](ServerCore& c) { return c.Stop(kName, true).status(); },
       "stopped", false},
      {"reboot", Before::kRunning, [](ServerCore& c) { return c.Reboot(kName, false).status(); },
       "running", true},
      {"force reboot", Before::kRunning,
       [](ServerCore& c) { return c.Reboot(kName, true).status(); }, "running", true},
      {"rescue from off", Before::kStopped, [](ServerCore& c) { return c.Rescue(kName).status(); },
       "running", false, BootMode::kRescue},
      {"rescue from running", Before::kRunning,
       [](ServerCore& c) { return c.Rescue(kName).status(); }, "running", false, BootMode::kRescue},
      {"unrescue", Before::kRescueRunning, [](ServerCore& c) { return c.Unrescue(kName).status(); },
       "running", false},
      {"delete", Before::kStopped, [](ServerCore& c) { return c.Delete(kName, false).status(); },
       "gone", false},
      {"force delete", Before::kRunning,
       [](ServerCore& c) { return c.Delete(kName, true).status(); }, "gone", false},
      // A server that runs no agent: its boot ends when QEMU runs; stop and
      // reboot go through the power button (a reboot starts a new QEMU).
      {"create without agent", Before::kNone,
       [](ServerCore& c) { return c.Create(Spec("plain")).status(); }, "running", false,
       BootMode::kNormal, "plain"},
      {"stop without agent", Before::kRunning,
       [](ServerCore& c) { return c.Stop(kName, false).status(); }, "stopped", false,
       BootMode::kNormal, "plain"},
      {"reboot without agent", Before::kRunning,
       [](ServerCore& c) { return c.Reboot(kName, false).status(); }, "running", false,
       BootMode::kNormal, "plain"},
      {"force reboot without agent", Before::kRunning,
       [](ServerCore& c) { return c.Reboot(kName, true).status(); }, "running", false,
       BootMode::kNormal, "plain"},
      {"rescue without agent", Before::kRunning,
       [](ServerCore& c) { return c.Rescue(kName).status(); }, "running", false,
       BootMode::kRescue, "plain"},
  };
  return ops;
}

class RestartSafety : public ::testing::TestWithParam<Operation> {};

TEST_P(RestartSafety, KumodKilledAtEveryStepRecoversTheServer) {
  const Operation& op = GetParam();
  const int steps = RunWithKill(op, -1);
  ASSERT_GT(steps, 0) << op.name << " without a kill";
  for (int k = 0; k <= steps && !HasFailure(); ++k) RunWithKill(op, k);
}

INSTANTIATE_TEST_SUITE_P(EachOperation, RestartSafety, ::testing::ValuesIn(Operations()),
                         [](const ::testing::TestParamInfo<Operation>& info) {
                           std::string name;
                           for (char c : std::string(info.param.name)) {
                             if (std::isalnum(static_cast<unsigned char>(c))) name += c;
                           }
                           return name;
                         });

}  // namespace
}  // namespace kumo::core
