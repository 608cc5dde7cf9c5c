// A server whose image runs no guest agent (agent kind none): nothing in the
// guest will ever say it booted or is alive, so its boot ends when QEMU
// runs, its status is running with the agent "none" (liveness unknown, never
// a warning), stop and reboot go through the ACPI power button, what needs an
// agent answers 409 with the way round, and its rescue boots kumo's rescue
// system, whose agent kumod does wait for. On simulated time, as
// server_core_test.cc; tests/e2e/stock_image_test.cc boots a real one.
#include <gtest/gtest.h>

#include "core/server_core_fixture.h"

namespace kumo::core {
namespace {

class NoAgentServerTest : public ServerCoreTest {
 protected:
  void SetUp() override {
    ServerCoreTest::SetUp();
    InstallRescueSystem(dir_ / "rescue", &config_);
    NewCore();
    ImageRecord plain{"plain", "", "", "/img/plain.qcow2", "", "", 1};
    plain.agent_kind = "none";
    plain.user_data_support = "none";
    ASSERT_TRUE(core_->RegisterImage(plain).ok());
  }

  void CreatePlain(const std::string& name) {
    ServerSpec s = Spec(name);
    s.image = "plain";
    auto r = core_->Create(s);
    ASSERT_TRUE(r.ok()) << r.status().message();
    ASSERT_TRUE(ReachStatus(name, "running")) << StatusOf(name);
  }
  bool AgentConnected(const std::string& name) { return agents_.count(name) > 0; }
};

TEST_F(NoAgentServerTest, ItIsRunningOnceQemuRunsAndNeverTurnsWarning) {
  CreatePlain("web");
  auto r = core_->Get("web");
  EXPECT_EQ(r->task, Task::kNone);
  EXPECT_EQ(r->power, Power::kRunning);
  EXPECT_EQ(r->agent, AgentState::kNone);
  EXPECT_TRUE(HasEvent("web", "the server runs no guest agent, so kumo cannot tell whether its OS"));
  EXPECT_FALSE(AgentConnected("web")) << "there is no agent to connect to";
  clock_.Advance(30s);  // many heartbeats, past the boot deadline
  EXPECT_EQ(StatusOf("web"), "running");
  EXPECT_EQ(core_->Get("web")->agent, AgentState::kNone);
}

TEST_F(NoAgentServerTest, AGracefulStopPressesThePowerButton) {
  CreatePlain("web");
  driver_->machine("web")->set_power_button_powers_off(true);
  auto stopping = core_->Stop("web", false);
  ASSERT_TRUE(stopping.ok()) << stopping.status().message();
  EXPECT_EQ(stopping->task, Task::kStopping);
  ASSERT_TRUE(ReachStatus("web", "stopped")) << StatusOf("web");
  EXPECT_EQ(driver_->machine("web")->power_button_count(), 1);
  EXPECT_EQ(driver_->machine("web")->quit_count(), 0) << "not forced";
  EXPECT_TRUE(HasEvent("web", "graceful stop requested: the server runs no guest agent, so its "
                              "power button is pressed (ACPI)"));
}

TEST_F(NoAgentServerTest, AGuestThatIgnoresThePowerButtonIsLeftRunningWithAHint) {
  CreatePlain("web");
  ASSERT_TRUE(core_->Stop("web", false).ok());
  ASSERT_TRUE(RunUntil([&] { return core_->Get("web")->task == Task::kNone; }, 10s));
  EXPECT_EQ(StatusOf("web"), "running");
  EXPECT_TRUE(HasEvent("web", "the guest ignored the power button"));
  EXPECT_TRUE(HasEvent("web", "kumo stop --force web"));
}

TEST_F(NoAgentServerTest, ARebootPowersOffThroughThePowerButtonAndBootsAgain) {
  CreatePlain("web");
  const int launches = driver_->launch_count();
  driver_->machine("web")->set_power_button_powers_off(true);
  auto rebooting = core_->Reboot("web", false);
  ASSERT_TRUE(rebooting.ok()) << rebooting.status().message();
  EXPECT_EQ(rebooting->task, Task::kRebooting);
  ASSERT_TRUE(RunUntil([&] { return driver_->launch_count() == launches + 1; }));
  ASSERT_TRUE(ReachStatus("web", "running")) << StatusOf("web");
  EXPECT_EQ(core_->Get("web")->task, Task::kNone);
  EXPECT_EQ(core_->Get("web")->agent, AgentState::kNone);
  EXPECT_TRUE(HasEvent("web", "reboot requested: the server runs no guest agent"));
}

TEST_F(NoAgentServerTest, AForcedRebootEndsWithTheReset) {
  CreatePlain("web");
  ASSERT_TRUE(core_->Reboot("web", true).ok());
  ASSERT_TRUE(RunUntil([&] { return core_->Get("web")->task == Task::kNone; }));
  EXPECT_EQ(StatusOf("web"), "running");
  EXPECT_EQ(driver_->machine("web")->reset_count(), 1);
  EXPECT_EQ(core_->Get("web")->agent, AgentState::kNone);
}

TEST_F(NoAgentServerTest, ExecAndSetPasswordAreRefusedWithTheWayRound) {
  CreatePlain("web");
  std::optional<Result<ExecResult>> ran;
  ExecRequest req;
  req.path = "/bin/true";
  core_->Exec("web", req, [&](Result<ExecResult> r) { ran = std::move(r); });
  ASSERT_TRUE(RunUntil([&] { return ran.has_value(); }));
  ASSERT_FALSE(ran->ok());
  EXPECT_EQ(ran->status().code(), codes::kInvalidState);
  EXPECT_NE(ran->status().message().find("runs no guest agent (its image plain has agent kind "
                                         "none)"),
            std::string::npos)
      << ran->status().message();
  EXPECT_NE(ran->status().hint().find("kumo console web"), std::string::npos);

  std::optional<Result<std::string>> set;
  core_->SetPassword("web", "root", "Pass-1", [&](Result<std::string> s) { set = std::move(s); });
  ASSERT_TRUE(RunUntil([&] { return set.has_value(); }));
  ASSERT_FALSE(set->ok());
  EXPECT_EQ(set->status().code(), codes::kInvalidState);
  EXPECT_NE(set->status().hint().find("kumo rescue web"), std::string::npos)
      << set->status().hint();
  EXPECT_EQ(StatusOf("web"), "running");
}

// Rescue boots kumo's rescue system, whose agent answers and is waited
// for; unrescue goes back to the agentless boot.
TEST_F(NoAgentServerTest, RescueBootsKumosRescueSystemAndItsAgentIsWaitedFor) {
  CreatePlain("web");
  driver_->machine("web")->set_power_button_powers_off(true);
  ASSERT_TRUE(core_->Rescue("web").ok());
  ASSERT_TRUE(RunUntil([&] { return driver_->launch_count() == 2; }));
  EXPECT_EQ(driver_->machine("web")->spec().cmdline, "console=ttyS0 kumo.rescue kumo.server=web");
  ASSERT_TRUE(ReachStatus("web", "running")) << StatusOf("web");
  EXPECT_EQ(core_->Get("web")->boot_mode, BootMode::kRescue);
  EXPECT_EQ(core_->Get("web")->agent, AgentState::kOk);
  EXPECT_TRUE(HasEvent("web", "rescue mode: the rescue system's agent answers"));

  ASSERT_TRUE(core_->Unrescue("web").ok());
  PowerOffWhenAsked("web", 0);
  ASSERT_TRUE(RunUntil([&] { return driver_->launch_count() == 3; }));
  ASSERT_TRUE(ReachStatus("web", "running")) << StatusOf("web");
  EXPECT_EQ(core_->Get("web")->boot_mode, BootMode::kNormal);
  EXPECT_EQ(core_->Get("web")->agent, AgentState::kNone);
}

TEST_F(NoAgentServerTest, AfterKumodRestartsItIsStillRunningWithoutAnAgent) {
  CreatePlain("web");
  NewCore();
  ASSERT_TRUE(ReachStatus("web", "running")) << StatusOf("web");
  clock_.Advance(10s);
  EXPECT_EQ(StatusOf("web"), "running");
  EXPECT_EQ(core_->Get("web")->agent, AgentState::kNone);
  EXPECT_FALSE(AgentConnected("web"));
}

// kumod died between pressing the power button and the guest powering
// off: the new kumod presses it again.
TEST_F(NoAgentServerTest, AStopInFlightWhenKumodRestartsPressesTheButtonAgain) {
  CreatePlain("web");
  ASSERT_TRUE(core_->Stop("web", false).ok());
  NewCore([](FakeDriver& driver) { driver.machine("web")->set_power_button_powers_off(true); });
  ASSERT_TRUE(ReachStatus("web", "stopped")) << StatusOf("web");
  EXPECT_EQ(driver_->machine("web")->power_button_count(), 2);
}

}  // namespace
}  // namespace kumo::core
