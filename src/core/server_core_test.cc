// ServerCore on simulated time: FakeDriver machines (QEMU as seen through
// QMP) and FakeGuestAgents (the guest's agent), a real SQLite store, and a
// SimulatedClock that moves only when the test runs it, so that seconds of
// heartbeats, deadlines and grace periods take microseconds. The real parts
// (QEMU, QMP, kumo-agent over virtio-serial) are driven end to end by
// tests/e2e/.
#include "core/server_core.h"

#include <gtest/gtest.h>

#include "core/server_core_fixture.h"

namespace kumo::core {
namespace {

TEST_F(ServerCoreTest, CreateIsPendingUntilTheAgentAnswers) {
  silent_.insert("web");
  auto r = core_->Create(Spec("web"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->status, ServerStatus::kPending);
  EXPECT_EQ(r->task, Task::kCreating);
  // QEMU "runs", but no agent answers yet: still pending.
  ASSERT_TRUE(RunUntil([&] { return core_->Get("web")->power == Power::kRunning; }));
  clock_.Advance(300ms);
  EXPECT_EQ(StatusOf("web"), "pending");
  Agent("web").set_ping_answers(true);
  ASSERT_TRUE(ReachStatus("web", "running"));
  auto s = core_->Get("web");
  EXPECT_EQ(s->task, Task::kNone);
  EXPECT_EQ(s->agent, AgentState::kOk);
  EXPECT_GT(s->agent_last_seen_ms, 0);
  EXPECT_TRUE(HasEvent("web", "created"));
  EXPECT_TRUE(HasEvent("web", "guest agent answering"));
}

// An image that needs UEFI boots with the OVMF kumod was pointed at: its
// machine gets the firmware code and the variable store template; a BIOS
// image's machine gets neither.
TEST_F(ServerCoreTest, AUefiImageBootsWithTheConfiguredOvmf) {
  auto created = core_->Create(UefiServerSpec("web", dir_ / "CODE.fd"));
  ASSERT_TRUE(created.ok()) << created.status().message();
  ASSERT_TRUE(ReachStatus("web", "running")) << StatusOf("web");
  EXPECT_EQ(driver_->machine("web")->spec().uefi_code, config_.ovmf_code);
  EXPECT_EQ(driver_->machine("web")->spec().uefi_vars_template, config_.ovmf_vars);

  CreateRunning("bios");
  EXPECT_EQ(driver_->machine("bios")->spec().uefi_code, "");
  EXPECT_EQ(driver_->machine("bios")->spec().uefi_vars_template, "");
}

// Without OVMF on the host a UEFI server is refused at create and at start,
// naming the file and the package, and nothing is made or changed.
TEST_F(ServerCoreTest, AMissingOvmfFileIsNamedAtCreateAndStartAndNothingChanges) {
  ServerSpec s = UefiServerSpec("web", dir_ / "no/OVMF_CODE_4M.fd");
  auto created = core_->Create(s);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.status().code(), codes::kHypervisorError);
  EXPECT_NE(created.status().message().find("image 'needs-uefi' boots with UEFI"),
            std::string::npos)
      << created.status().message();
  EXPECT_NE(created.status().message().find(config_.ovmf_code), std::string::npos);
  EXPECT_NE(created.status().hint().find("apt-get install ovmf"), std::string::npos);
  EXPECT_FALSE(core_->Get("web").ok());
  EXPECT_FALSE(std::filesystem::exists(dir_ / "servers/web"));
  EXPECT_EQ(driver_->launch_count(), 0);

  // Made while OVMF was there, started after it went.
  config_.ovmf_code = dir_ / "CODE.fd";
  NewCore();
  ASSERT_TRUE(core_->Create(s).ok());
  ASSERT_TRUE(ReachStatus("web", "running")) << StatusOf("web");
  ASSERT_TRUE(core_->Stop("web", true).ok());
  ASSERT_TRUE(ReachStatus("web", "stopped")) << StatusOf("web");
  config_.ovmf_code = dir_ / "gone/OVMF_CODE_4M.fd";
  NewCore();
  int launches = driver_->launch_count();
  auto started = core_->Start("web");
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.status().code(), codes::kHypervisorError);
  EXPECT_NE(started.status().message().find(config_.ovmf_code), std::string::npos);
  EXPECT_EQ(StatusOf("web"), "stopped");
  EXPECT_EQ(driver_->launch_count(), launches);
}

TEST_F(ServerCoreTest, AQemuGaImageIsNotAskedForKumoCommandsAndTheTimelineSaysWhy) {
  ServerSpec s = QemuGaServerSpec("web");
  s.user_data = "#!/bin/sh\necho hello\n";
  ASSERT_TRUE(core_->Create(s).ok());
  ASSERT_TRUE(ReachStatus("web", "running")) << StatusOf("web");
  clock_.Advance(10s);
  const auto& asked = Agent("web").commands();
  EXPECT_EQ(std::count(asked.begin(), asked.end(), "kumo-init-status"), 0);
  EXPECT_EQ(std::count(asked.begin(), asked.end(), "kumo-health"), 0);
  EXPECT_TRUE(HasEvent("web",
                       "init status not available: the image's agent is qemu-ga (kumo-init-status "
                       "needs kumo-agent)"));
}

// The user installed kumo-agent into a qemu-ga image: guest-info says so at
// the boot's end, the timeline notes it, and kumod asks it what it asks
// kumo-agent. The other way round, an image said to run kumo-agent whose
// agent is a stock one is not asked.
TEST_F(ServerCoreTest, TheAgentGuestInfoNamesWinsOverTheImagesWord) {
  ServerSpec s = QemuGaServerSpec("installed");
  s.user_data = "#!/bin/sh\necho hello\n";
  kumo_commands_.insert("installed");  // kumo-agent from the package, without a role
  ASSERT_TRUE(core_->Create(s).ok());
  ASSERT_TRUE(ReachStatus("installed", "running")) << StatusOf("installed");
  ASSERT_TRUE(
      RunUntil([&] { return core_->AgentKindOf(*core_->Get("installed")) == "kumo-agent"; }));
  clock_.Advance(3s);
  const auto& asked = Agent("installed").commands();
  EXPECT_GE(std::count(asked.begin(), asked.end(), "kumo-health"), 1);
  EXPECT_GE(std::count(asked.begin(), asked.end(), "kumo-init-status"), 1);
  EXPECT_TRUE(HasEvent("installed",
                       "the guest's agent is kumo-agent 0.1.0, not qemu-ga as its image says: "
                       "kumod asks it for kumo-health and init status"));
  EXPECT_FALSE(HasEvent("installed", "init status not available"));

  roles_["stock"] = "";  // an image said to run kumo-agent, with qemu-ga in it
  ServerSpec stock = Spec("stock");
  stock.user_data = "#!/bin/sh\necho hello\n";
  ASSERT_TRUE(core_->Create(stock).ok());
  ASSERT_TRUE(ReachStatus("stock", "running")) << StatusOf("stock");
  ASSERT_TRUE(RunUntil([&] { return core_->AgentKindOf(*core_->Get("stock")) == "qemu-ga"; }));
  clock_.Advance(3s);
  const auto& stock_asked = Agent("stock").commands();
  EXPECT_EQ(std::count(stock_asked.begin(), stock_asked.end(), "kumo-init-status"), 0);
  EXPECT_TRUE(HasEvent("stock",
                       "the guest's agent is qemu-ga 7.2.0, not kumo-agent as its image "
                       "says: kumod does not ask it for kumo-health or init status"));

  // After kumod restarts, the agent is asked again.
  NewCore();
  ASSERT_TRUE(
      RunUntil([&] { return core_->AgentKindOf(*core_->Get("installed")) == "kumo-agent"; }));
}

// kumo-agent installed into a running qemu-ga guest (dpkg -i, and its unit
// replaces qemu-ga's): the guest closes and reopens the agent's channel, and
// the agent that reopens it is asked which it is.
TEST_F(ServerCoreTest, AnAgentReplacedInARunningGuestIsAskedWhichItIsWhenItReopensTheChannel) {
  ServerSpec s = QemuGaServerSpec("swap");
  ASSERT_TRUE(core_->Create(s).ok());
  ASSERT_TRUE(ReachStatus("swap", "running")) << StatusOf("swap");
  ASSERT_TRUE(RunUntil([&] { return core_->AgentKindOf(*core_->Get("swap")) == "qemu-ga"; }));

  Agent("swap").set_kumo_commands(true);  // now kumo-agent answers on the same channel
  driver_->machine("swap")->Emit({MachineEvent::Kind::kAgentChannel, true, "closed"});
  driver_->machine("swap")->Emit({MachineEvent::Kind::kAgentChannel, true, "open"});
  ASSERT_TRUE(RunUntil([&] { return core_->AgentKindOf(*core_->Get("swap")) == "kumo-agent"; }));
  EXPECT_TRUE(HasEvent("swap", "the guest's agent is kumo-agent 0.1.0, not qemu-ga as before"));
}

// A boot's first ping is written before the guest's agent opens its port,
// and the guest's kernel drops it: when QEMU says the port opened, the agent
// is asked again at once instead of a heartbeat later.
TEST_F(ServerCoreTest, TheGuestOpeningTheAgentPortAsksTheAgentAgainAtOnce) {
  ASSERT_TRUE(core_->Create(Spec("early")).ok());
  ASSERT_TRUE(RunUntil([&] { return driver_->machine("early") != nullptr; }));
  EXPECT_EQ(Agent("early").channel_openings(), 0);
  driver_->machine("early")->Emit({MachineEvent::Kind::kAgentChannel, true, "open"});
  ASSERT_TRUE(RunUntil([&] { return Agent("early").channel_openings() == 1; }));
}

TEST_F(ServerCoreTest, BootThatNeverAnswersTurnsWarningStuck) {
  config_.boot_timeout = 400ms;
  NewCore();
  silent_.insert("mute");
  ASSERT_TRUE(core_->Create(Spec("mute")).ok());
  ASSERT_TRUE(ReachStatus("mute", "warning"));
  EXPECT_NE(core_->Get("mute")->status_reason.find("stuck in creating since"), std::string::npos);
}

TEST_F(ServerCoreTest, HungAgentWarnsRefusesGracefulStopAndForceStopWorks) {
  CreateRunning("db");
  Freeze("db", true);
  ASSERT_TRUE(ReachStatus("db", "warning", 3s));
  auto s = core_->Get("db");
  EXPECT_NE(s->status_reason.find("guest agent not responding since"), std::string::npos);
  EXPECT_EQ(s->agent, AgentState::kUnresponsive);

  auto stop = core_->Stop("db", false);
  ASSERT_FALSE(stop.ok());
  EXPECT_EQ(stop.status().code(), codes::kGuestAgentNotResponding);
  EXPECT_NE(stop.status().hint().find("--force"), std::string::npos);
  // The middle way comes first: the power button, before the power cord.
  const std::string& hint = stop.status().hint();
  EXPECT_LT(hint.find("kumo stop --acpi db"), hint.find("kumo stop --force db")) << hint;
  EXPECT_EQ(core_->Get("db")->task, Task::kNone) << "a refused stop must change nothing";

  auto force = core_->Stop("db", true);
  ASSERT_TRUE(force.ok()) << force.status().message();
  ASSERT_TRUE(ReachStatus("db", "stopped", 2s));
  EXPECT_EQ(driver_->machine("db")->quit_count(), 1);
  EXPECT_EQ(core_->Get("db")->power, Power::kOff);
}

TEST_F(ServerCoreTest, PowerButtonStopsAGuestWhoseAgentHangs) {
  CreateRunning("acpi");
  Freeze("acpi", true);
  ASSERT_TRUE(ReachStatus("acpi", "warning", 3s));
  driver_->machine("acpi")->set_power_button_powers_off(true);  // acpid in the guest
  auto stop = core_->StopByPowerButton("acpi");
  ASSERT_TRUE(stop.ok()) << stop.status().message();
  EXPECT_EQ(stop->task, Task::kStopping);
  ASSERT_TRUE(ReachStatus("acpi", "stopped", 2s));
  EXPECT_EQ(driver_->machine("acpi")->power_button_count(), 1);
  EXPECT_EQ(driver_->machine("acpi")->quit_count(), 0) << "not forced";
  EXPECT_EQ(Shutdowns("acpi", ShutdownMode::kPowerdown), 0) << "the agent was not asked";
  auto r = core_->Get("acpi");
  EXPECT_EQ(r->power, Power::kOff);
  EXPECT_EQ(r->task, Task::kNone);
  EXPECT_TRUE(HasEvent("acpi", "power button pressed (ACPI)"));
  EXPECT_TRUE(HasEvent("acpi", "the guest powered off"));
  EXPECT_EQ(core_->StopByPowerButton("acpi").status().code(), codes::kInvalidState);
}

TEST_F(ServerCoreTest, AGuestThatIgnoresThePowerButtonEndsTheTaskWithAWarning) {
  CreateRunning("deaf");
  Freeze("deaf", true);
  ASSERT_TRUE(ReachStatus("deaf", "warning", 3s));
  ASSERT_TRUE(core_->StopByPowerButton("deaf").ok());
  EXPECT_EQ(core_->Reboot("deaf", true).status().code(), codes::kServerBusy);
  // stop_timeout is 2 s in the simulated configuration.
  ASSERT_TRUE(RunUntil([&] { return core_->Get("deaf")->task == Task::kNone; }, 5s));
  EXPECT_TRUE(HasEvent("deaf",
                       "the guest ignored the power button (still running after 2 s); "
                       "force stop it: kumo stop --force deaf"));
  auto r = core_->Get("deaf");
  EXPECT_EQ(r->power, Power::kRunning);
  EXPECT_EQ(StatusOf("deaf"), "warning");
  EXPECT_EQ(driver_->machine("deaf")->power_button_count(), 1);
  EXPECT_EQ(driver_->machine("deaf")->quit_count(), 0);
  // The way out still works.
  ASSERT_TRUE(core_->Stop("deaf", true).ok());
  ASSERT_TRUE(ReachStatus("deaf", "stopped", 2s));
}

TEST_F(ServerCoreTest, AForceStopDuringAPowerButtonStopIsNotEndedByItsTimeout) {
  CreateRunning("both");
  driver_->machine("both")->set_ignore_quit(true);  // only the kill ends it
  ASSERT_TRUE(core_->StopByPowerButton("both").ok());
  ASSERT_TRUE(core_->Stop("both", true).ok());
  ASSERT_TRUE(ReachStatus("both", "stopped", 5s));
  EXPECT_FALSE(HasEvent("both", "ignored the power button"));
}

TEST_F(ServerCoreTest, PowerButtonIsRefusedWhenNothingCanHearIt) {
  CreateRunning("busy");
  ASSERT_TRUE(core_->Stop("busy", false).ok());
  EXPECT_EQ(core_->StopByPowerButton("busy").status().code(), codes::kServerBusy);
  EXPECT_EQ(core_->StopByPowerButton("nobody").status().code(), codes::kNotFound);
  CreateRunning("crashed");
  driver_->machine("crashed")->Emit({MachineEvent::Kind::kPanicked, true, "guest panicked"});
  ASSERT_TRUE(ReachStatus("crashed", "error"));
  auto refused = core_->StopByPowerButton("crashed");
  EXPECT_EQ(refused.status().code(), codes::kInvalidState);
  EXPECT_NE(refused.status().hint().find("kumo stop --force crashed"), std::string::npos);
  EXPECT_EQ(driver_->machine("crashed")->power_button_count(), 0);
}

TEST_F(ServerCoreTest, AgentThatComesBackTurnsRunningAgain) {
  CreateRunning("app");
  Freeze("app", true);
  ASSERT_TRUE(ReachStatus("app", "warning", 3s));
  Freeze("app", false);
  ASSERT_TRUE(ReachStatus("app", "running", 3s));
  EXPECT_TRUE(HasEvent("app", "guest agent answering again"));
}

TEST_F(ServerCoreTest, GracefulStopAsksTheGuestAndEndsWhenItPowersOff) {
  CreateRunning("g");
  auto stop = core_->Stop("g", false);
  ASSERT_TRUE(stop.ok()) << stop.status().message();
  EXPECT_EQ(stop->status, ServerStatus::kPending);
  ASSERT_TRUE(RunUntil([&] { return Shutdowns("g", ShutdownMode::kPowerdown) == 1; }));
  // Another operation meanwhile: busy.
  auto busy = core_->Reboot("g", false);
  EXPECT_EQ(busy.status().code(), codes::kServerBusy);
  driver_->machine("g")->Emit({MachineEvent::Kind::kShutdown, true, "guest-shutdown"});
  driver_->machine("g")->Emit({MachineEvent::Kind::kExited, false, ""});
  ASSERT_TRUE(ReachStatus("g", "stopped"));
  EXPECT_TRUE(HasEvent("g", "the guest powered off"));
  EXPECT_EQ(driver_->machine("g")->quit_count(), 0) << "a graceful stop must never force";
}

TEST_F(ServerCoreTest, GracefulStopThatNeverEndsIsStuckNotForced) {
  config_.stop_timeout = 300ms;
  NewCore();
  CreateRunning("slow");
  ASSERT_TRUE(core_->Stop("slow", false).ok());
  ASSERT_TRUE(ReachStatus("slow", "warning"));
  auto s = core_->Get("slow");
  EXPECT_NE(s->status_reason.find("stuck in stopping since"), std::string::npos);
  EXPECT_EQ(driver_->machine("slow")->quit_count(), 0);
  // Force stop is still allowed while the graceful stop hangs.
  ASSERT_TRUE(core_->Stop("slow", true).ok());
  ASSERT_TRUE(ReachStatus("slow", "stopped"));
}

TEST_F(ServerCoreTest, WedgedQemuIsKilledAfterQuit) {
  CreateRunning("wedge");
  driver_->machine("wedge")->set_ignore_quit(true);
  ASSERT_TRUE(core_->Stop("wedge", true).ok());
  ASSERT_TRUE(ReachStatus("wedge", "stopped", 3s));
  EXPECT_EQ(driver_->machine("wedge")->kill_count(), 1);
}

TEST_F(ServerCoreTest, PanicAndUnexpectedExitAreErrors) {
  CreateRunning("p");
  driver_->machine("p")->Emit({MachineEvent::Kind::kPanicked, false, ""});
  ASSERT_TRUE(ReachStatus("p", "error"));
  EXPECT_EQ(core_->Get("p")->status_reason, "guest kernel panicked");

  CreateRunning("x");
  driver_->machine("x")->Emit({MachineEvent::Kind::kExited, false, "killed by signal 9"});
  ASSERT_TRUE(ReachStatus("x", "error"));
  EXPECT_NE(core_->Get("x")->status_reason.find("QEMU exited unexpectedly"), std::string::npos);
}

TEST_F(ServerCoreTest, FailedLaunchIsAnError) {
  driver_->fail_next_launch(Status(codes::kHypervisorError, "qemu: could not open disk"));
  ASSERT_TRUE(core_->Create(Spec("bad")).ok());
  ASSERT_TRUE(ReachStatus("bad", "error"));
  EXPECT_NE(core_->Get("bad")->status_reason.find("could not open disk"), std::string::npos);
}

TEST_F(ServerCoreTest, RebootCompletesAfterResetAndAgentAnswer) {
  CreateRunning("r");
  ASSERT_TRUE(core_->Reboot("r", true).ok());
  EXPECT_EQ(StatusOf("r"), "pending");
  ASSERT_TRUE(RunUntil([&] { return driver_->machine("r")->reset_count() == 1; }));
  ASSERT_TRUE(ReachStatus("r", "running"));
  EXPECT_EQ(core_->Get("r")->task, Task::kNone);
}

TEST_F(ServerCoreTest, RefusalsChangeNothing) {
  CreateRunning("a");
  auto before = *core_->Get("a");
  auto events_before = core_->Events("a", 0, 1000)->size();
  EXPECT_EQ(core_->Create(Spec("a")).status().code(), codes::kAlreadyExists);
  EXPECT_EQ(core_->Start("a").status().code(), codes::kInvalidState);
  EXPECT_EQ(core_->Delete("a", false).status().code(), codes::kInvalidState);
  EXPECT_EQ(core_->Stop("nope", false).status().code(), codes::kNotFound);
  ServerSpec bad = Spec("b");
  bad.image = "missing";
  EXPECT_EQ(core_->Create(bad).status().code(), codes::kNotFound);
  bad = Spec("Bad Name");
  EXPECT_EQ(core_->Create(bad).status().code(), codes::kInvalidArgument);
  auto after = *core_->Get("a");
  EXPECT_EQ(after.status, before.status);
  EXPECT_EQ(after.task, before.task);
  EXPECT_EQ(core_->Events("a", 0, 1000)->size(), events_before);
  EXPECT_EQ(core_->List().size(), 1u);
}

TEST_F(ServerCoreTest, DeleteRemovesTheServerAndItsFiles) {
  CreateRunning("d");
  ASSERT_TRUE(core_->Delete("d", true).ok());
  ASSERT_TRUE(ReachStatus("d", "gone"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "servers/d"));
  EXPECT_EQ(driver_->machine("d")->quit_count(), 1);
}

TEST_F(ServerCoreTest, RecoveryReattachesRunningServers) {
  CreateRunning("keep");
  int64_t pid = core_->Get("keep")->qemu_pid;
  const int launches = driver_->launch_count();
  NewCore();  // kumod restarted
  // The console is there at once, while QMP is still being reconnected.
  EXPECT_TRUE(core_->Console("keep").ok());
  ASSERT_TRUE(RunUntil([&] { return driver_->attach_count() == 1; }));
  ASSERT_TRUE(ReachStatus("keep", "running"));
  EXPECT_EQ(core_->Get("keep")->qemu_pid, pid);
  EXPECT_EQ(driver_->launch_count(), launches) << "recovery must not start a new QEMU";
}

TEST_F(ServerCoreTest, RecoveryReadsAPowerOffFromTheConsoleWhenQemuIsGone) {
  CreateRunning("off");
  testing::WriteFile(dir_ / "servers/off/console.log", "...\n[   9.1] reboot: Power down\n");
  NewCore([&](FakeDriver& d) { QemuEnds(d, "off"); });
  ASSERT_TRUE(ReachStatus("off", "stopped"));
  EXPECT_TRUE(HasEvent("off", "the guest powered off while kumod was not running"));
}

TEST_F(ServerCoreTest, RecoveryCallsAVanishedQemuAnError) {
  CreateRunning("crash");
  NewCore([&](FakeDriver& d) { QemuEnds(d, "crash"); });
  ASSERT_TRUE(ReachStatus("crash", "error"));
  EXPECT_EQ(core_->Console("crash").status().code(), codes::kInvalidState);
  EXPECT_TRUE(HasEvent("crash", "QEMU exited while kumod was not running"));
  EXPECT_EQ(driver_->attach_count(), 0) << "nothing ran to attach to";
}

TEST_F(ServerCoreTest, RecoveryKillsAQemuItCannotReach) {
  CreateRunning("deaf");
  auto machine = driver_->machine("deaf");
  NewCore(
      [](FakeDriver& d) { d.fail_next_attach(Status(codes::kHypervisorError, "QMP timeout")); });
  ASSERT_TRUE(ReachStatus("deaf", "error"));
  EXPECT_FALSE(machine->alive()) << "a QEMU kumod cannot drive must not run unseen";
  EXPECT_EQ(machine->kill_count(), 1);
  EXPECT_TRUE(HasEvent("deaf", "could not be reached after kumod restarted, so it was killed"));
  EXPECT_EQ(core_->Get("deaf")->qemu_pid, 0);
}

TEST_F(ServerCoreTest, RecoveryAdoptsAQemuItsRecordLost) {
  CreateRunning("lost");
  int64_t pid = core_->Get("lost")->qemu_pid;
  // What kumod wrote before it died: no QEMU (killed between starting QEMU
  // and writing it down, or crashed by an earlier recovery); the process
  // table says otherwise.
  ServerRecord stored = *store_->GetServer("lost");
  stored.power = Power::kCrashed;
  stored.qemu_pid = 0;
  ASSERT_TRUE(store_->SaveServer(stored, std::nullopt).ok());
  const int launches = driver_->launch_count();
  NewCore();
  ASSERT_TRUE(ReachStatus("lost", "running"));
  auto r = core_->Get("lost");
  EXPECT_EQ(r->power, Power::kRunning);
  EXPECT_EQ(r->qemu_pid, pid);
  EXPECT_TRUE(HasEvent("lost", "QEMU found running after kumod restarted"));
  EXPECT_EQ(driver_->launch_count(), launches) << "no second QEMU";
}

TEST_F(ServerCoreTest, RecoveryFinishesAStopThatWasInFlight) {
  CreateRunning("half");
  ASSERT_TRUE(core_->Stop("half", false).ok());
  ASSERT_TRUE(RunUntil([&] { return Shutdowns("half", ShutdownMode::kPowerdown) == 1; }));
  NewCore();  // kumod died with the stop in flight
  ASSERT_TRUE(RunUntil([&] { return driver_->machine("half") != nullptr; }));
  EXPECT_EQ(core_->Get("half")->task, Task::kStopping);
  driver_->machine("half")->Emit({MachineEvent::Kind::kShutdown, true, "guest-shutdown"});
  driver_->machine("half")->Emit({MachineEvent::Kind::kExited, false, ""});
  ASSERT_TRUE(ReachStatus("half", "stopped"));
}

TEST_F(ServerCoreTest, RecoveryFinishesAForceStopThatWasInFlight) {
  CreateRunning("forced");
  ASSERT_TRUE(core_->Stop("forced", true).ok());
  NewCore();  // kumod died before the quit took effect
  ASSERT_TRUE(ReachStatus("forced", "stopped"));
  EXPECT_EQ(driver_->machine("forced")->quit_count(), 1) << "the force stop was not re-issued";
}

TEST_F(ServerCoreTest, RescueRestartsIntoSingleUserModeAndUnrescueBack) {
  CreateRunning("res");
  auto r = core_->Rescue("res");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->task, Task::kRescuing);
  EXPECT_EQ(r->boot_mode, BootMode::kRescue);
  // The guest is asked to power off (its writes reach the disk), not forced.
  PowerOffWhenAsked("res", 0);
  ASSERT_TRUE(RunUntil([&] { return driver_->launch_count() == 2; }));
  EXPECT_EQ(driver_->machine("res")->quit_count(), 0);
  EXPECT_EQ(driver_->machine("res")->spec().cmdline, "console=ttyS0 kumo.rescue");
  ASSERT_TRUE(ReachStatus("res", "running"));
  auto s = core_->Get("res");
  EXPECT_EQ(s->task, Task::kNone);
  EXPECT_NE(s->status_reason.find("rescue mode"), std::string::npos);

  EXPECT_EQ(core_->Rescue("res").ok(), true) << "rescue again is allowed (restarts)";
  PowerOffWhenAsked("res", 1);
  ASSERT_TRUE(ReachStatus("res", "running"));
  ASSERT_TRUE(core_->Unrescue("res").ok());
  PowerOffWhenAsked("res", 2);
  ASSERT_TRUE(RunUntil([&] { return driver_->launch_count() == 4; }));
  EXPECT_EQ(driver_->machine("res")->spec().cmdline, "console=ttyS0");
  ASSERT_TRUE(ReachStatus("res", "running"));
  EXPECT_EQ(core_->Get("res")->boot_mode, BootMode::kNormal);
  EXPECT_EQ(core_->Unrescue("res").status().code(), codes::kInvalidState);
}

TEST_F(ServerCoreTest, AnImageWithoutAKernelBootsFromItsDisk) {
  ImageRecord disk_image{"own-boot", "", "", "/img/own.qcow2", "", "", 1};
  ASSERT_TRUE(core_->RegisterImage(disk_image).ok());
  ServerSpec spec = Spec("own");
  spec.image = "own-boot";
  driver_->set_validate_specs(true);
  ASSERT_TRUE(core_->Create(spec).ok());
  ASSERT_TRUE(ReachStatus("own", "running")) << StatusOf("own");
  const auto& launched = driver_->machine("own")->spec();
  EXPECT_EQ(launched.kernel, "");
  EXPECT_EQ(launched.initrd, "");
  EXPECT_EQ(launched.cmdline, "");
  EXPECT_EQ(launched.base_disk, "/img/own.qcow2");

  // Without kumo's rescue system on this host, rescue is refused: its own
  // bootloader would boot it normally.
  auto rescue = core_->Rescue("own");
  ASSERT_FALSE(rescue.ok());
  EXPECT_EQ(rescue.status().code(), codes::kInvalidState);
  EXPECT_NE(rescue.status().message().find("kumo's rescue system is not installed"),
            std::string::npos)
      << rescue.status().message();
  EXPECT_NE(rescue.status().hint().find("--rescue-dir"), std::string::npos);
  auto after = core_->Get("own");
  EXPECT_EQ(after->task, Task::kNone) << "nothing changed";
  EXPECT_EQ(after->boot_mode, BootMode::kNormal);
  EXPECT_EQ(driver_->launch_count(), 1);

  // With the agent down, set-password points to the rescue system.
  Freeze("own", true);
  ASSERT_TRUE(ReachStatus("own", "warning", 3s));
  std::optional<Status> hung;
  core_->SetPassword("own", "root", "x", [&](Result<std::string> s) { hung = s.status(); });
  ASSERT_TRUE(RunUntil([&] { return hung.has_value(); }));
  EXPECT_EQ(hung->code(), codes::kGuestAgentNotResponding);
  EXPECT_NE(hung->hint().find("kumo rescue own"), std::string::npos) << hung->hint();
  EXPECT_NE(hung->hint().find("kumo console own"), std::string::npos) << hung->hint();
}

TEST_F(ServerCoreTest, RescueOfADiskImageBootsKumosRescueSystemWithTheServersDisk) {
  InstallRescueSystem(dir_ / "rescue", &config_);
  NewCore();
  ASSERT_TRUE(core_->RegisterImage({"own-boot", "", "", "/img/own.qcow2", "", "", 1}).ok());
  ServerSpec spec = Spec("own");
  spec.image = "own-boot";
  driver_->set_validate_specs(true);
  ASSERT_TRUE(core_->Create(spec).ok());
  ASSERT_TRUE(ReachStatus("own", "running")) << StatusOf("own");
  const auto normal = driver_->machine("own")->spec();
  ASSERT_NE(normal.seed_image, "");

  ASSERT_TRUE(core_->Rescue("own").ok());
  PowerOffWhenAsked("own", 0);
  ASSERT_TRUE(RunUntil([&] { return driver_->launch_count() == 2; }));
  const auto rescue = driver_->machine("own")->spec();
  EXPECT_EQ(rescue.kernel, dir_ / "rescue/vmlinuz");
  EXPECT_EQ(rescue.initrd, dir_ / "rescue/initrd.img");
  EXPECT_EQ(rescue.cmdline, "console=ttyS0 kumo.rescue kumo.server=own");
  EXPECT_EQ(rescue.base_disk, "/img/own.qcow2") << "the server's own disk";
  EXPECT_EQ(rescue.paths.disk(), normal.paths.disk()) << "its overlay, with the user's data";
  EXPECT_EQ(rescue.seed_image, "") << "the seed is not attached";
  ASSERT_TRUE(ReachStatus("own", "running"));
  EXPECT_EQ(core_->Get("own")->boot_mode, BootMode::kRescue);
  EXPECT_TRUE(HasEvent("own", "rescue mode: the rescue system's agent answers"));

  // set-password goes to the rescue system's agent, which writes the disk.
  std::optional<Result<std::string>> set;
  core_->SetPassword("own", "root", "Disk-Pass-1", [&](Result<std::string> s) { set = s; });
  ASSERT_TRUE(RunUntil([&] { return set.has_value(); }));
  ASSERT_TRUE(set->ok()) << set->status().message();
  EXPECT_EQ(set->value().find("in the server's own disk"), 0u) << set->value();
  EXPECT_EQ(Agent("own").passwords().at("root"), "Disk-Pass-1");
  EXPECT_TRUE(HasEvent("own", "password set for user root in the server's own disk"));

  ASSERT_TRUE(core_->Unrescue("own").ok());
  PowerOffWhenAsked("own", 1);
  ASSERT_TRUE(RunUntil([&] { return driver_->launch_count() == 3; }));
  const auto back = driver_->machine("own")->spec();
  EXPECT_EQ(back.kernel, "") << "its own bootloader again";
  EXPECT_EQ(back.cmdline, "");
  EXPECT_EQ(back.seed_image, normal.seed_image);
  ASSERT_TRUE(ReachStatus("own", "running"));
  EXPECT_EQ(core_->Get("own")->boot_mode, BootMode::kNormal);
}

// A guest whose agent answers but is not the rescue system's (an image that
// ignored the rescue boot) is never reported in rescue mode.
TEST_F(ServerCoreTest, RescueIsReportedOnlyOnceTheAgentSaysItIsTheRescueSystem) {
  CreateRunning("slow");
  CreateRunning("stock");
  CreateRunning("plain");
  // The rescue system's agent cannot say what it is at first (busy): the
  // server stays pending, and is asked again.
  roles_["slow"] = "rescue";
  busy_role_answers_["slow"] = 2;
  roles_["stock"] = "";        // qemu-ga: no kumo-role
  roles_["plain"] = "normal";  // kumo-agent of a normal boot
  for (const char* name : {"slow", "stock", "plain"}) {
    ASSERT_TRUE(core_->Rescue(name).ok());
    PowerOffWhenAsked(name, 0);
  }
  ASSERT_TRUE(RunUntil([&] { return driver_->launch_count() == 6; }));
  ASSERT_TRUE(RunUntil([&] {
    int asked = 0;
    for (const auto& c : Agent("slow").commands()) asked += c == "guest-info";
    return asked == 2;
  }));
  EXPECT_EQ(StatusOf("slow"), "pending") << "answering pings is not enough";
  EXPECT_FALSE(HasEvent("slow", "rescue mode"));
  ASSERT_TRUE(ReachStatus("slow", "running"));
  EXPECT_TRUE(HasEvent("slow", "rescue mode: the rescue system's agent answers"));

  for (const char* name : {"stock", "plain"}) {
    ASSERT_TRUE(ReachStatus(name, "warning")) << name << ": " << StatusOf(name);
    auto r = core_->Get(name);
    EXPECT_EQ(r->task, Task::kRescuing) << name;
    EXPECT_NE(r->status_reason.find("rescue failed: the guest's agent answers, but it is not the "
                                    "rescue system"),
              std::string::npos)
        << r->status_reason;
    EXPECT_NE(r->status_reason.find("kumo stop --force " + std::string(name)), std::string::npos);
    EXPECT_FALSE(HasEvent(name, "rescue mode")) << name;
  }
  EXPECT_NE(core_->Get("stock")->status_reason.find("names no role"), std::string::npos);
  EXPECT_NE(core_->Get("plain")->status_reason.find("normal boot"), std::string::npos);
  // It stays so: later answers do not turn it into rescue mode.
  (void)RunUntil([] { return false; }, 2s);
  EXPECT_EQ(StatusOf("plain"), "warning");
  EXPECT_FALSE(HasEvent("plain", "rescue mode"));
  // Force stop is the way out, as the reason says.
  ASSERT_TRUE(core_->Stop("plain", true).ok());
  ASSERT_TRUE(ReachStatus("plain", "stopped"));
}

TEST_F(ServerCoreTest, RescueForcesAGuestThatDoesNotPowerOffInTime) {
  CreateRunning("stubborn");  // its agent takes the powerdown, nothing happens
  ASSERT_TRUE(core_->Rescue("stubborn").ok());
  ASSERT_TRUE(RunUntil([&] { return driver_->launch_count() == 2; }));
  EXPECT_EQ(Shutdowns("stubborn", ShutdownMode::kPowerdown), 1);
  EXPECT_TRUE(HasEvent("stubborn", "did not power off within 1 s; forcing it off"));
  ASSERT_TRUE(ReachStatus("stubborn", "running"));
  EXPECT_EQ(core_->Get("stubborn")->boot_mode, BootMode::kRescue);
}

TEST_F(ServerCoreTest, RescueForcesAGuestWhoseAgentIsDown) {
  CreateRunning("hung");
  Freeze("hung", true);
  ASSERT_TRUE(ReachStatus("hung", "warning"));
  Freeze("hung", false);  // the agent comes back for the rescue boot
  ASSERT_TRUE(core_->Rescue("hung").ok());
  ASSERT_TRUE(RunUntil([&] { return driver_->launch_count() == 2; }, 3s))
      << "an unanswering guest is forced off at once";
  EXPECT_EQ(Shutdowns("hung", ShutdownMode::kPowerdown), 0);
  ASSERT_TRUE(ReachStatus("hung", "running"));
}

int CountEvents(ServerCore& core, const std::string& name, const std::string& text) {
  int n = 0;
  auto events = core.Events(name, 0, 1000);
  for (const auto& e : *events) n += e.message.find(text) != std::string::npos;
  return n;
}

TEST_F(ServerCoreTest, APanicStaysTheReasonWhileTheAgentFallsSilent) {
  CreateRunning("p");
  driver_->machine("p")->Emit({MachineEvent::Kind::kPanicked, true, "guest panicked"});
  ASSERT_TRUE(ReachStatus("p", "error"));
  Freeze("p", true);  // a panicked guest's agent answers no more
  ASSERT_TRUE(RunUntil([&] { return core_->Get("p")->agent == AgentState::kUnresponsive; }, 3s));
  clock_.Advance(2s);
  auto r = core_->Get("p");
  EXPECT_EQ(StatusOf("p"), "error");
  EXPECT_NE(r->status_reason.find("guest kernel panicked"), std::string::npos) << r->status_reason;
  EXPECT_TRUE(HasEvent("p", "guest agent not responding since")) << "still news for the timeline";
  auto stop = core_->Stop("p", false);
  ASSERT_FALSE(stop.ok());
  EXPECT_EQ(stop.status().code(), codes::kInvalidState);
  EXPECT_NE(stop.status().message().find("has crashed (guest kernel panicked"), std::string::npos)
      << stop.status().message();
  EXPECT_NE(stop.status().hint().find("kumo stop --force p"), std::string::npos);
  ASSERT_TRUE(core_->Stop("p", true).ok());
  ASSERT_TRUE(ReachStatus("p", "stopped"));
  EXPECT_EQ(core_->Get("p")->status_reason, "stopped (forced)") << "the error ended";
}

TEST_F(ServerCoreTest, NotRespondingSinceNamesTheRealLastAnswer) {
  CreateRunning("quiet");
  clock_.Advance(7s);  // answers all along; the store's copy is refreshed every 10 s only
  const int64_t frozen_at = clock_.NowMs();
  Freeze("quiet", true);
  ASSERT_TRUE(ReachStatus("quiet", "warning", 3s));
  auto r = core_->Get("quiet");
  EXPECT_GE(r->agent_last_seen_ms, frozen_at - 150) << "more than one heartbeat early";
  EXPECT_LE(r->agent_last_seen_ms, frozen_at);
  EXPECT_NE(r->status_reason.find(FormatUtc(r->agent_last_seen_ms)), std::string::npos)
      << r->status_reason;
}

TEST_F(ServerCoreTest, AGuestRebootIsOneEventAndNotAPowerOff) {
  CreateRunning("rb");
  auto machine = driver_->machine("rb");
  // What QEMU reports when the guest reboots (and its kernel resets twice).
  machine->Emit({MachineEvent::Kind::kShutdown, true, "guest-reset"});
  machine->Emit({MachineEvent::Kind::kReset, true, "guest-reset"});
  machine->Emit({MachineEvent::Kind::kReset, true, "guest-reset"});
  ASSERT_TRUE(RunUntil([&] { return HasEvent("rb", "the guest rebooted"); }));
  ASSERT_TRUE(ReachStatus("rb", "running"));
  clock_.Advance(1s);
  EXPECT_EQ(CountEvents(*core_, "rb", "the guest rebooted"), 1);
  machine->Emit({MachineEvent::Kind::kExited, false, "QEMU exited"});
  ASSERT_TRUE(ReachStatus("rb", "error")) << "an exit after a reboot is not a power-off";
  EXPECT_TRUE(HasEvent("rb", "QEMU exited unexpectedly"));
}

TEST_F(ServerCoreTest, AnAgentRespawnedWithinAHeartbeatLeavesATrace) {
  CreateRunning("ag");
  auto machine = driver_->machine("ag");
  auto respawn = [&](int64_t pid) {
    Agent("ag").set_health({{"agent_pid", pid}});
    machine->Emit({MachineEvent::Kind::kAgentChannel, true, "closed"});
    machine->Emit({MachineEvent::Kind::kAgentChannel, true, "open"});
  };
  respawn(300);
  ASSERT_TRUE(RunUntil([&] { return HasEvent("ag", "guest agent restarted in the guest"); }));
  respawn(301);
  ASSERT_TRUE(RunUntil([&] { return HasEvent("ag", "(pid 300 → 301)"); }));
  EXPECT_EQ(StatusOf("ag"), "running");

  // Right after a restart the link may still be waiting out the dead
  // agent's requests: a silent answer is asked again, not given up on.
  Agent("ag").fail_next("kumo-health", Status(codes::kGuestAgentNotResponding, "timed out"));
  respawn(302);
  ASSERT_TRUE(RunUntil([&] { return HasEvent("ag", "(pid 301 → 302)"); }, 5s));

  // A reboot closes and reopens the channel too: that is the reboot's news.
  machine->Emit({MachineEvent::Kind::kAgentChannel, true, "closed"});
  machine->Emit({MachineEvent::Kind::kReset, true, "guest-reset"});
  machine->Emit({MachineEvent::Kind::kAgentChannel, true, "open"});
  ASSERT_TRUE(RunUntil([&] { return HasEvent("ag", "the guest rebooted"); }));
  clock_.Advance(1s);
  EXPECT_EQ(CountEvents(*core_, "ag", "guest agent restarted"), 3);
}

// A delete or a force stop wins over the boot a rescue had planned, and a
// force stop can always end what is under way.
TEST_F(ServerCoreTest, ForceDeleteDuringARescueDeletesInsteadOfRelaunching) {
  CreateRunning("r1");
  ASSERT_TRUE(core_->Rescue("r1").ok());
  auto deleting = core_->Delete("r1", true);
  ASSERT_TRUE(deleting.ok()) << deleting.status().message();
  ASSERT_TRUE(RunUntil([&] { return StatusOf("r1") == "gone"; }, 5s)) << StatusOf("r1");
  EXPECT_EQ(driver_->running_count("r1"), 0);
  EXPECT_EQ(driver_->launch_count(), 1) << "the rescue boot must not happen";
}

TEST_F(ServerCoreTest, ForceStopDuringARescueStopsForGood) {
  CreateRunning("r2");
  ASSERT_TRUE(core_->Rescue("r2").ok());
  ASSERT_TRUE(core_->Stop("r2", true).ok());
  ASSERT_TRUE(ReachStatus("r2", "stopped", 5s));
  clock_.Advance(3s);
  EXPECT_EQ(StatusOf("r2"), "stopped");
  EXPECT_EQ(driver_->running_count("r2"), 0);
  EXPECT_EQ(driver_->launch_count(), 1) << "the rescue boot must not happen";
}

TEST_F(ServerCoreTest, ForceDeleteWhileQemuIsStillStartingLeavesNothingRunning) {
  CreateRunning("r3");
  ASSERT_TRUE(core_->Stop("r3", true).ok());
  ASSERT_TRUE(ReachStatus("r3", "stopped"));
  ASSERT_TRUE(core_->Start("r3").ok());  // the launch is under way, no machine yet
  ASSERT_TRUE(core_->Delete("r3", true).ok());
  ASSERT_TRUE(RunUntil([&] { return StatusOf("r3") == "gone"; }, 5s)) << StatusOf("r3");
  clock_.Advance(1s);
  EXPECT_EQ(driver_->running_count("r3"), 0) << "the QEMU that arrived late was left running";
}

// kumod restarted and is still re-attaching to a QEMU (QMP not connected
// yet): a start is refused (it would launch a second QEMU), and a force
// delete must not leave the QEMU running without its server.
TEST_F(ServerCoreTest, WhileKumodIsStillReattachingAStartIsRefusedAndADeleteLeavesNothing) {
  CreateRunning("r4");
  core_.reset();
  ledger_.reset();
  ledger_ = std::make_unique<ServerLedger>(*store_, clock_);
  core_ = std::make_unique<ServerCore>(
      CoreParts{io_, clock_, *ledger_, *store_, *driver_,
                [this](const std::string& socket) { return ConnectAgent(socket); }},
      config_);
  driver_->hold_attaches(true);
  core_->Recover();  // the attach is under way
  const int launches = driver_->launch_count();
  auto start = core_->Start("r4");
  ASSERT_FALSE(start.ok()) << "a second QEMU would be launched";
  EXPECT_EQ(start.status().code(), codes::kServerBusy);
  EXPECT_EQ(driver_->launch_count(), launches);
  ASSERT_TRUE(core_->Delete("r4", true).ok());
  clock_.Advance(100ms);
  driver_->release_attaches();
  ASSERT_TRUE(RunUntil([&] { return StatusOf("r4") == "gone"; }, 5s)) << StatusOf("r4");
  clock_.Advance(1s);
  EXPECT_EQ(driver_->running_count("r4"), 0) << "the re-attached QEMU was left running";
}

TEST_F(ServerCoreTest, ForceStopAskedAgainKillsAtOnceAndEndsADelete) {
  CreateRunning("wedged");
  driver_->machine("wedged")->set_ignore_quit(true);  // quit does nothing
  config_.force_kill_after = 60s;                     // the grace would be long
  NewCore();
  ASSERT_TRUE(RunUntil([&] { return core_->Get("wedged")->agent == AgentState::kOk; }));
  ASSERT_TRUE(core_->Delete("wedged", true).ok());
  clock_.Advance(1s);
  EXPECT_EQ(StatusOf("wedged"), "pending") << "still deleting, QEMU ignores quit";
  auto again = core_->Stop("wedged", true);
  ASSERT_TRUE(again.ok()) << "force stop must not answer busy: " << again.status().message();
  ASSERT_TRUE(RunUntil([&] { return StatusOf("wedged") == "gone"; }, 2s)) << StatusOf("wedged");
  EXPECT_EQ(driver_->running_count("wedged"), 0);
}

TEST_F(ServerCoreTest, UserDataWarningsAreInTheTimelineAndTheSeedIsMade) {
  ServerSpec spec = Spec("cc");
  spec.user_data = "#cloud-config\npackages: [nginx]\nhostname: web\n";
  auto r = core_->Create(spec);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(HasEvent("cc", "user data: packages: not applied by the kumo image"));
  EXPECT_EQ(core_->Get("cc")->status_reason, "creating") << "a note leaves the reason alone";
  EXPECT_TRUE(std::filesystem::exists(dir_ / "servers/cc/seed.iso"));
  ASSERT_TRUE(RunUntil([&] { return driver_->machine("cc") != nullptr; }));
  EXPECT_EQ(driver_->machine("cc")->spec().seed_image, dir_ / "servers/cc/seed.iso");
  EXPECT_EQ(testing::ReadFile(dir_ / "servers/cc/seed/user-data"), spec.user_data);

  ServerSpec bad = Spec("bad");
  bad.user_data = "#cloud-config\nruncmd: [\n";
  auto refused = core_->Create(bad);
  EXPECT_EQ(refused.status().code(), codes::kInvalidArgument);
  EXPECT_FALSE(core_->Get("bad").ok()) << "nothing was stored";
  EXPECT_FALSE(std::filesystem::exists(dir_ / "servers/bad")) << "nothing was written";
}

TEST_F(ServerCoreTest, RescueOfAStoppedServerBootsIt) {
  CreateRunning("cold");
  ASSERT_TRUE(core_->Stop("cold", true).ok());
  ASSERT_TRUE(ReachStatus("cold", "stopped"));
  ASSERT_TRUE(core_->Rescue("cold").ok());
  ASSERT_TRUE(ReachStatus("cold", "running"));
  EXPECT_EQ(driver_->machine("cold")->spec().cmdline, "console=ttyS0 kumo.rescue");
  // A normal start leaves rescue mode.
  ASSERT_TRUE(core_->Stop("cold", true).ok());
  ASSERT_TRUE(ReachStatus("cold", "stopped"));
  ASSERT_TRUE(core_->Start("cold").ok());
  ASSERT_TRUE(ReachStatus("cold", "running"));
  EXPECT_EQ(driver_->machine("cold")->spec().cmdline, "console=ttyS0");
}

Status SetPasswordNow(ServerCore& core, const std::string& name, const std::string& user,
                      const std::string& password,
                      const std::function<bool(const std::function<bool()>&)>& run) {
  std::optional<Status> result;
  core.SetPassword(name, user, password, [&](Result<std::string> s) { result = s.status(); });
  run([&] { return result.has_value(); });
  return result.value_or(Status(codes::kInternal, "no answer"));
}

TEST_F(ServerCoreTest, SetPasswordGoesThroughTheAgent) {
  CreateRunning("pw");
  auto run = [this](const std::function<bool()>& p) { return RunUntil(p); };
  Status ok = SetPasswordNow(*core_, "pw", "root", "n3w pass", run);
  EXPECT_TRUE(ok.ok()) << ok.message();
  EXPECT_EQ(Agent("pw").passwords(), (std::map<std::string, std::string>{{"root", "n3w pass"}}));
  EXPECT_TRUE(HasEvent("pw", "password set for user root"));
  EXPECT_FALSE(HasEvent("pw", "n3w pass")) << "the password must never reach the timeline";

  for (auto [user, password] : std::vector<std::pair<std::string, std::string>>{
           {"Root", "x"}, {"ro ot", "x"}, {"", "x"}, {"root", ""}, {"root", "two\nlines"}}) {
    Status bad = SetPasswordNow(*core_, "pw", user, password, run);
    EXPECT_EQ(bad.code(), codes::kInvalidArgument) << user << "/" << password;
  }
  EXPECT_EQ(Agent("pw").passwords().size(), 1u);

  // A guest that refuses (no such user): the API's 400, nothing noted.
  Agent("pw").fail_next("guest-set-user-password",
                        Status(codes::kGuestCommandFailed, "user 'nobody' not found"));
  Status refused = SetPasswordNow(*core_, "pw", "nobody", "x", run);
  EXPECT_EQ(refused.code(), codes::kInvalidArgument);
  EXPECT_NE(refused.message().find("not found"), std::string::npos);

  Freeze("pw", true);
  ASSERT_TRUE(ReachStatus("pw", "warning", 3s));
  Status hung = SetPasswordNow(*core_, "pw", "root", "x", run);
  EXPECT_EQ(hung.code(), codes::kGuestAgentNotResponding);
  EXPECT_NE(hung.hint().find("kumo rescue"), std::string::npos);
}

Result<ExecResult> ExecNow(ServerCore& core, const std::string& name, const ExecRequest& request,
                           const std::function<bool(const std::function<bool()>&)>& run) {
  std::optional<Result<ExecResult>> result;
  core.Exec(name, request, [&](Result<ExecResult> r) { result = std::move(r); });
  run([&] { return result.has_value(); });
  return result.value_or(Result<ExecResult>(Status(codes::kInternal, "no answer")));
}

TEST_F(ServerCoreTest, ExecRunsAProgramThroughTheAgent) {
  CreateRunning("ex");
  auto run = [this](const std::function<bool()>& p) { return RunUntil(p); };
  guestlink::ExecStatus done;
  done.exited = true;
  done.exit_code = 3;
  done.stdout_text = "out";
  done.stderr_text = "err";
  Agent("ex").set_exec_result(done);
  auto r = ExecNow(*core_, "ex", {"/bin/false", {"-x"}, "in", 5s}, run);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->stdout_text, "out");
  EXPECT_EQ(r->stderr_text, "err");
  ASSERT_EQ(Agent("ex").execs().size(), 1u);
  EXPECT_EQ(Agent("ex").execs()[0].path, "/bin/false");
  EXPECT_EQ(Agent("ex").execs()[0].input, "in");

  // Still running at the timeout: said so, left running.
  guestlink::ExecStatus running;
  running.exited = false;
  Agent("ex").set_exec_result(running);
  auto slow = ExecNow(*core_, "ex", {"/bin/sleep", {"60"}, "", 2s}, run);
  EXPECT_FALSE(slow.ok());
  EXPECT_NE(slow.status().message().find("still running at the timeout"), std::string::npos);

  Freeze("ex", true);
  ASSERT_TRUE(ReachStatus("ex", "warning", 3s));
  auto hung = ExecNow(*core_, "ex", {"/bin/true", {}, "", 2s}, run);
  EXPECT_EQ(hung.status().code(), codes::kGuestAgentNotResponding);
}

TEST_F(ServerCoreTest, InitScriptResultsReachTheTimelineOncePerBoot) {
  ServerSpec spec = Spec("ud");
  spec.user_data = "#!/bin/sh\necho hi\n";
  ASSERT_TRUE(core_->Create(spec).ok());
  ASSERT_TRUE(RunUntil([&] { return agents_.count("ud") > 0; }));
  nlohmann::json report = {{"boot_id", "b1"},
                           {"finished", true},
                           {"ran", {{{"step", "script"}, {"exit_code", 0}, {"output", "hi\n"}}}}};
  Agent("ud").set_init_status(report);
  ASSERT_TRUE(ReachStatus("ud", "running"));
  ASSERT_TRUE(RunUntil([&] { return HasEvent("ud", "init script exited with status 0"); }, 5s));
  // Rebooted with the same report (kumo-init did not run again): not twice.
  ASSERT_TRUE(core_->Reboot("ud", true).ok());
  ASSERT_TRUE(ReachStatus("ud", "running"));
  clock_.Advance(10s);
  int reports = 0;
  auto events = core_->Events("ud", 0, 1000);  // kept: the loop reads into it
  for (const auto& e : *events) reports += e.kind == "init";
  EXPECT_EQ(reports, 1);
}

}  // namespace
}  // namespace kumo::core
