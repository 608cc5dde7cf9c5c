#include "hypervisor/fake_driver.h"

#include <gtest/gtest.h>

namespace kumo::hypervisor {
namespace {

using Kind = MachineEvent::Kind;

MachineSpec Spec(const std::string& name) {
  MachineSpec spec;
  spec.name = name;
  spec.base_disk = "/img/rootfs.qcow2";
  spec.paths.run_dir = "/run/kumo/" + name;
  return spec;
}

class FakeDriverTest : public ::testing::Test {
 protected:
  // Launches `name` and sets a handler that records its events.
  std::shared_ptr<Machine> Launch(const std::string& name) {
    std::shared_ptr<Machine> machine;
    driver_.Launch(Spec(name), [&](Result<std::shared_ptr<Machine>> m) {
      ASSERT_TRUE(m.ok()) << m.status().ToString();
      machine = *m;
    });
    EXPECT_EQ(machine, nullptr) << "called back inside Launch";
    io_.restart();
    io_.run();
    if (machine) machine->SetEventHandler([this](const MachineEvent& e) { events_.push_back(e); });
    return machine;
  }
  void Run() {
    io_.restart();
    io_.run();
  }
  std::vector<Kind> Kinds() const {
    std::vector<Kind> kinds;
    for (const auto& e : events_) kinds.push_back(e.kind);
    return kinds;
  }

  boost::asio::io_context io_;
  FakeDriver driver_{io_};
  std::vector<MachineEvent> events_;
};

TEST_F(FakeDriverTest, LaunchGivesARunningMachineByName) {
  auto machine = Launch("web-1");
  ASSERT_NE(machine, nullptr);
  EXPECT_TRUE(machine->alive());
  EXPECT_EQ(machine->paths().run_dir, "/run/kumo/web-1");
  EXPECT_EQ(driver_.machine("web-1").get(), machine.get());
  EXPECT_EQ(driver_.machine("nope"), nullptr);
  EXPECT_EQ(driver_.launch_count(), 1);
  EXPECT_NE(Launch("web-2")->pid(), machine->pid());
}

TEST_F(FakeDriverTest, QuitShutsDownThenExits) {
  auto machine = Launch("web-1");
  std::optional<Status> quit;
  machine->Quit([&](Status s) { quit = s; });
  EXPECT_FALSE(quit.has_value());
  EXPECT_TRUE(events_.empty()) << "events are asynchronous";
  Run();
  ASSERT_TRUE(quit && quit->ok());
  EXPECT_EQ(Kinds(), (std::vector<Kind>{Kind::kShutdown, Kind::kExited}));
  EXPECT_EQ(events_[0].detail, "host-qmp-quit");
  EXPECT_FALSE(events_[0].guest_initiated);
  EXPECT_FALSE(machine->alive());
  EXPECT_EQ(driver_.machine("web-1")->quit_count(), 1);
}

TEST_F(FakeDriverTest, KillExitsAndNothingFollowsExited) {
  auto machine = Launch("web-1");
  auto fake = driver_.machine("web-1");
  machine->Kill();
  fake->Emit({Kind::kReset, true, "guest-reset"});  // after the exit: dropped
  Run();
  EXPECT_EQ(Kinds(), std::vector<Kind>{Kind::kExited});
  EXPECT_EQ(events_[0].detail, "QEMU was killed (SIGKILL)");
  EXPECT_EQ(fake->kill_count(), 1);
  EXPECT_FALSE(machine->alive());
}

TEST_F(FakeDriverTest, ResetAndInjectedEvents) {
  auto machine = Launch("web-1");
  auto fake = driver_.machine("web-1");
  std::optional<Status> reset;
  machine->SystemReset([&](Status s) { reset = s; });
  fake->Emit({Kind::kPanicked, true, "guest panicked; action pause"});
  fake->Emit({Kind::kStopped, false, ""});
  Run();
  ASSERT_TRUE(reset && reset->ok());
  EXPECT_EQ(Kinds(), (std::vector<Kind>{Kind::kReset, Kind::kPanicked, Kind::kStopped}));
  EXPECT_TRUE(machine->alive());
  EXPECT_EQ(fake->reset_count(), 1);
}

TEST_F(FakeDriverTest, FailuresOnDemand) {
  driver_.fail_next_launch(Status(codes::kHypervisorError, "boom"));
  std::optional<Status> launch;
  driver_.Launch(Spec("web-1"), [&](Result<std::shared_ptr<Machine>> m) { launch = m.status(); });
  Run();
  ASSERT_TRUE(launch.has_value());
  EXPECT_EQ(launch->code(), codes::kHypervisorError);
  EXPECT_EQ(driver_.machine("web-1"), nullptr);

  auto machine = Launch("web-1");  // the failure was for one launch only
  ASSERT_NE(machine, nullptr);
  auto fake = driver_.machine("web-1");
  fake->fail_next_quit(Status(codes::kHypervisorError, "QMP refused"));
  fake->fail_next_reset(Status(codes::kHypervisorError, "QMP refused"));
  std::optional<Status> quit, reset;
  machine->Quit([&](Status s) { quit = s; });
  machine->SystemReset([&](Status s) { reset = s; });
  Run();
  EXPECT_FALSE(quit->ok());
  EXPECT_FALSE(reset->ok());
  EXPECT_TRUE(events_.empty());
  EXPECT_TRUE(machine->alive());
}

TEST_F(FakeDriverTest, WedgedMachineNeedsKill) {
  auto machine = Launch("web-1");
  driver_.machine("web-1")->set_ignore_quit(true);
  machine->Quit([](Status) {});
  Run();
  EXPECT_TRUE(machine->alive());
  EXPECT_TRUE(events_.empty());
  machine->Kill();
  Run();
  EXPECT_EQ(Kinds(), std::vector<Kind>{Kind::kExited});
}

TEST_F(FakeDriverTest, EventsBeforeTheHandlerAreKept) {
  std::shared_ptr<Machine> machine;
  driver_.Launch(Spec("web-1"), [&](Result<std::shared_ptr<Machine>> m) {
    if (m.ok()) machine = m.value();
  });
  Run();
  ASSERT_NE(machine, nullptr);
  driver_.machine("web-1")->Emit({Kind::kReset, true, "guest-reset"});
  Run();
  machine->SetEventHandler([this](const MachineEvent& e) { events_.push_back(e); });
  EXPECT_TRUE(events_.empty()) << "delivered inside SetEventHandler";
  Run();
  EXPECT_EQ(Kinds(), std::vector<Kind>{Kind::kReset});
}

TEST_F(FakeDriverTest, AttachAfterRestartAndToAnExitedPid) {
  auto machine = Launch("web-1");
  const int64_t pid = machine->pid();
  // A new driver, as after a kumod restart, attaches to the running machine.
  FakeDriver restarted(io_);
  std::shared_ptr<Machine> attached;
  restarted.Attach(Spec("web-1"), pid, [&](Result<std::shared_ptr<Machine>> m) {
    ASSERT_TRUE(m.ok());
    attached = *m;
  });
  Run();
  ASSERT_NE(attached, nullptr);
  EXPECT_EQ(attached->pid(), pid);
  EXPECT_EQ(restarted.attach_count(), 1);

  machine->Kill();
  Run();
  std::optional<Status> again;
  driver_.Attach(Spec("web-1"), pid,
                 [&](Result<std::shared_ptr<Machine>> m) { again = m.status(); });
  Run();
  EXPECT_EQ(again->code(), codes::kNotFound);
}

TEST_F(FakeDriverTest, ValidationIsOptIn) {
  MachineSpec bad = Spec("web-1");
  bad.memory_mib = 0;
  std::optional<Status> result;
  driver_.Launch(bad, [&](Result<std::shared_ptr<Machine>> m) { result = m.status(); });
  Run();
  EXPECT_TRUE(result->ok());
  driver_.set_validate_specs(true);
  driver_.Launch(bad, [&](Result<std::shared_ptr<Machine>> m) { result = m.status(); });
  Run();
  EXPECT_EQ(result->code(), codes::kInvalidArgument);
}

TEST_F(FakeDriverTest, NoCallbacksAfterTheMachineIsGone) {
  auto driver = std::make_unique<FakeDriver>(io_);
  bool called = false;
  std::shared_ptr<Machine> m;
  driver->Launch(Spec("web-1"), [&](Result<std::shared_ptr<Machine>> r) {
    if (r.ok()) m = r.value();
  });
  Run();
  ASSERT_NE(m, nullptr);
  m->SetEventHandler([&](const MachineEvent&) { called = true; });
  m->Quit([&](Status) { called = true; });
  m.reset();
  driver.reset();  // the driver held the last reference
  Run();
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace kumo::hypervisor
