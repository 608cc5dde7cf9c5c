#include "diagnosis/rules.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace kumo::diagnosis {
namespace {

constexpr int64_t kBoot = 1'700'000'000'000;  // 2023-11-14 22:13:20 UTC
constexpr int64_t kNow = kBoot + 300'000;

telemetry::GuestHealth HealthyGuest() {
  telemetry::GuestHealth h;
  h.agent_pid = 90;
  h.uptime_s = 300;
  h.load1 = 0.1;
  h.mem_total_kib = 240 * 1024;
  h.mem_available_kib = 180 * 1024;
  h.psi_cpu_some10 = 0;
  h.psi_mem_some10 = 0;
  h.psi_mem_full10 = 0;
  h.sshd_running = true;
  h.sshd_pid = 120;
  h.sshd_program = "dropbear";
  h.root_total_kib = 1000 * 1024;
  h.root_used_kib = 100 * 1024;
  h.root_available_kib = 850 * 1024;
  return h;
}

telemetry::Sample SampleAt(int64_t t, float cpu_percent, float available_kib) {
  telemetry::Sample s;
  s.time_ms = t;
  s.agent_up = true;
  s.load1 = 0.1f;
  s.mem_total_kib = 240 * 1024;
  s.mem_available_kib = available_kib;
  s.psi_mem_some10 = 0;
  s.psi_cpu_some10 = 0;
  s.qemu_cpu_percent = cpu_percent;
  s.qemu_rss_mib = 300;
  return s;
}

// A server booted five minutes ago, everything fine.
Observation Healthy() {
  Observation o;
  o.now_ms = kNow;
  o.server.name = "web";
  o.server.vcpus = 1;
  o.server.power = Power::kRunning;
  o.server.agent = AgentState::kOk;
  o.server.status = ServerStatus::kRunning;
  o.server.agent_last_seen_ms = kNow - 500;
  o.server.qemu_pid = 4242;
  o.server.ssh_port = 2222;
  o.boot_ms = kBoot;
  o.health = HealthyGuest();
  o.health_ms = kNow - 1000;
  o.settings.health_interval_ms = 5000;
  o.settings.cpu_saturated_after_ms = 60000;
  o.settings.boot_stuck_after_ms = 90000;
  for (int64_t t = kNow - 200'000; t <= kNow; t += 5000)
    o.samples.push_back(SampleAt(t, 4, 180 * 1024));
  o.ssh = {SshProbe::Outcome::kBanner, kNow - 2000, 0, 0, "SSH-2.0-dropbear"};
  o.console_tail = {"Welcome to kumo", "web login:"};
  return o;
}

TimedFact Fact(int64_t t, ConsoleFactKind kind, std::string text) {
  TimedFact f;
  f.time_ms = t;
  f.fact.kind = kind;
  f.fact.text = std::move(text);
  return f;
}

TimedFact OomLine(int64_t t, int64_t pid, std::string process, uint64_t kib) {
  TimedFact f = Fact(t, ConsoleFactKind::kOomKill,
                     "Out of memory: Killed process " + std::to_string(pid) + " (" + process + ")");
  f.fact.pid = pid;
  f.fact.process = std::move(process);
  f.fact.kib = kib;
  return f;
}

const Finding* FindingOf(const Diagnosis& d, std::string_view code) {
  for (const auto& f : d.findings) {
    if (f.code == code) return &f;
  }
  return nullptr;
}

std::vector<std::string> Codes(const Diagnosis& d) {
  std::vector<std::string> codes;
  for (const auto& f : d.findings) codes.push_back(f.code);
  return codes;
}

TEST(Diagnose, AHealthyServerHasNoFindingAndEveryCheckClear) {
  Diagnosis d = Diagnose(Healthy());
  EXPECT_TRUE(d.findings.empty()) << d.findings.front().summary;
  ASSERT_EQ(d.checks.size(), Rules().size());
  for (const auto& c : d.checks) {
    EXPECT_EQ(c.state, CheckState::kClear) << c.code << ": " << c.detail;
    EXPECT_FALSE(c.detail.empty()) << c.code;
  }
}

TEST(Diagnose, AStoppedServerIsNotGuessedAbout) {
  Observation o = Healthy();
  o.server.power = Power::kOff;
  o.server.status = ServerStatus::kStopped;
  Diagnosis d = Diagnose(o);
  EXPECT_TRUE(d.findings.empty());
  for (const auto& c : d.checks) EXPECT_EQ(c.state, CheckState::kUnknown) << c.code;
}

TEST(OomKill, NamesEveryVictimTakingTheAgentsSpellingAndCallsOutSsh) {
  Observation o = Healthy();
  int64_t t = kNow - 20'000;
  o.console.push_back(
      Fact(t - 10, ConsoleFactKind::kOomInvoked, "hog invoked oom-killer: gfp_mask=0x140cca"));
  o.console.push_back(OomLine(t, 212, "dropbbear", 4 * 1024));  // doubled by a busy UART
  o.console.push_back(OomLine(t + 50, 301, "hog", 190 * 1024));
  o.health->oom_kills.push_back({t, 212, "dropbear", 4 * 1024});
  Diagnosis d = Diagnose(o);
  const Finding* f = FindingOf(d, "oom_kill");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::kCritical);
  EXPECT_NE(f->summary.find("dropbear (pid 212, 4 MiB) and hog (pid 301, 190 MiB)"),
            std::string::npos)
      << f->summary;
  EXPECT_NE(f->summary.find("SSH server was among them"), std::string::npos);
  EXPECT_NE(f->summary.find("the agent answers"), std::string::npos);
  EXPECT_EQ(f->since_ms, t);
  bool console = false, agent = false;
  for (const auto& e : f->evidence) {
    console |= e.source == Source::kConsole &&
               e.text.find("Killed process 301 (hog)") != std::string::npos;
    agent |= e.source == Source::kAgent && e.text.find("dropbear") != std::string::npos;
  }
  EXPECT_TRUE(console && agent);
  EXPECT_EQ(d.findings.front().code, "oom_kill");
}

TEST(OomKill, AKillOfAnOrdinaryProcessIsAWarningAndAnOldBootsKillIsNotThisBoots) {
  Observation o = Healthy();
  o.health->oom_kills.push_back({kBoot - 3'600'000, 50, "old", 1024});  // another boot
  EXPECT_EQ(CheckOomKill(o).check.state, CheckState::kClear);
  o.health->oom_kills.push_back({kNow - 5000, 301, "hog", 190 * 1024});
  RuleOutcome out = CheckOomKill(o);
  ASSERT_TRUE(out.finding);
  EXPECT_EQ(out.finding->severity, Severity::kWarning);
  EXPECT_EQ(out.finding->summary.find("old"), std::string::npos);
}

TEST(MemoryPressure, Table) {
  struct Case {
    const char* name;
    double available_mib;
    double psi_some;
    double fall_mib_per_s;  // over the samples of the last minute
    bool health;
    CheckState want;
    const char* says;
  };
  const Case cases[] = {
      {"idle", 180, 0, 0, true, CheckState::kClear, ""},
      {"stalls", 100, 25, 0, true, CheckState::kFound, "waited on memory 25%"},
      // avg10 lingers after an OOM kill freed memory: not "running out".
      {"after a kill", 190, 51, 0, true, CheckState::kClear, ""},
      {"nearly empty", 12, 0, 0, true, CheckState::kFound, "only 12 MiB"},
      {"falling fast", 100, 0, 3, true, CheckState::kFound, "runs out in about"},
      {"falling slowly", 100, 0, 0.2, true, CheckState::kClear, ""},
      {"stock agent", 100, 0, 0, false, CheckState::kUnknown, ""},
  };
  for (const auto& c : cases) {
    Observation o = Healthy();
    o.samples.clear();
    for (int64_t t = kNow - 60'000; t <= kNow; t += 5000) {
      double available = c.available_mib + c.fall_mib_per_s * (kNow - t) / 1000.0;
      o.samples.push_back(SampleAt(t, 4, static_cast<float>(available * 1024)));
    }
    o.health->mem_available_kib = c.available_mib * 1024;
    o.health->psi_mem_some10 = c.psi_some;
    if (!c.health) o.health.reset(), o.stock_agent = true;
    RuleOutcome out = CheckMemoryPressure(o);
    EXPECT_EQ(out.check.state, c.want) << c.name << ": " << out.check.detail;
    if (out.finding) {
      EXPECT_NE(out.finding->summary.find(c.says), std::string::npos) << out.finding->summary;
    }
  }
}

TEST(CpuSaturated, OnlyWhenBusyForTheWholeWindow) {
  Observation o = Healthy();
  for (auto& s : o.samples) s.qemu_cpu_percent = s.time_ms >= kNow - 70'000 ? 99 : 4;
  RuleOutcome out = CheckCpuSaturated(o);
  ASSERT_EQ(out.check.state, CheckState::kFound) << out.check.detail;
  EXPECT_NE(out.finding->summary.find("QEMU used 99% of a host core"), std::string::npos)
      << out.finding->summary;
  EXPECT_TRUE(std::any_of(out.finding->evidence.begin(), out.finding->evidence.end(),
                          [](const Evidence& e) { return e.source == Source::kHost; }));
  // A guest thrashing on memory shows CPU pressure too; the host's figure decides.
  Observation thrashing = o;
  for (auto& s : thrashing.samples) s.psi_cpu_some10 = 90;
  thrashing.samples.back().qemu_cpu_percent = 15;
  EXPECT_EQ(CheckCpuSaturated(thrashing).check.state, CheckState::kClear);
  o.samples.back().qemu_cpu_percent = 30;  // it just calmed down
  EXPECT_EQ(CheckCpuSaturated(o).check.state, CheckState::kClear);
  o.samples.erase(o.samples.begin(), o.samples.end() - 5);  // 20 s of history
  EXPECT_EQ(CheckCpuSaturated(o).check.state, CheckState::kUnknown);
}

TEST(KernelPanic, QuotesTheLinesBeforeThePanicAndComesFirst) {
  Observation o = Healthy();
  TimedFact panic = Fact(kNow - 3000, ConsoleFactKind::kKernelPanic,
                         "Kernel panic - not syncing: sysrq triggered crash");
  panic.fact.detail = "sysrq triggered crash";
  panic.context = {"sysrq: Trigger a crash"};
  o.console.push_back(panic);
  o.server.agent = AgentState::kUnresponsive;
  o.server.agent_last_seen_ms = kNow - 3500;
  Diagnosis d = Diagnose(o);
  ASSERT_FALSE(d.findings.empty());
  EXPECT_EQ(d.findings.front().code, "kernel_panic");
  EXPECT_NE(d.findings.front().summary.find("sysrq triggered crash"), std::string::npos);
  ASSERT_EQ(d.findings.front().evidence.size(), 2u);
  EXPECT_EQ(d.findings.front().evidence[0].text, "sysrq: Trigger a crash");
  EXPECT_NE(FindingOf(d, "agent_unresponsive"), nullptr);
}

TEST(KernelPanic, QemusPvpanicAloneIsEnough) {
  Observation o = Healthy();
  o.server.power = Power::kCrashed;
  o.server.status = ServerStatus::kError;
  o.server.status_reason = "guest kernel panicked";
  RuleOutcome out = CheckKernelPanic(o);
  ASSERT_TRUE(out.finding);
  EXPECT_EQ(out.finding->evidence.back().source, Source::kHost);
}

TEST(Fsck, RunningPassedFailedAndErrors) {
  Observation o = Healthy();
  o.server.agent = AgentState::kUnknown;
  o.server.agent_last_seen_ms = 0;
  o.server.status = ServerStatus::kPending;
  TimedFact start = Fact(kBoot + 2000, ConsoleFactKind::kFsckStarted,
                         "/dev/vda has been mounted 21 times without being checked, check forced.");
  start.fact.device = "/dev/vda";
  TimedFact progress =
      Fact(kBoot + 4000, ConsoleFactKind::kFsckProgress, "/dev/vda: |=====   | 34.5%");
  progress.fact.device = "/dev/vda";
  progress.fact.percent = 34.5;
  o.console = {start, progress};
  RuleOutcome running = CheckFsck(o);
  ASSERT_TRUE(running.finding);
  EXPECT_EQ(running.finding->severity, Severity::kWarning);
  EXPECT_NE(running.finding->summary.find("of /dev/vda is running at boot (34% done)"),
            std::string::npos)
      << running.finding->summary;
  EXPECT_EQ(running.finding->since_ms, kBoot + 2000);
  // Long after the start, a running check is the explanation, not a stuck boot.
  EXPECT_EQ(CheckBootStuck(o).check.state, CheckState::kClear);

  o.console.push_back(Fact(kBoot + 9000, ConsoleFactKind::kFsckPassed,
                           "/dev/vda: 11/65536 files (0.0% non-contiguous)"));
  RuleOutcome passed = CheckFsck(o);
  ASSERT_TRUE(passed.finding);
  EXPECT_EQ(passed.finding->severity, Severity::kInfo);
  EXPECT_NE(passed.finding->summary.find("took 7 s"), std::string::npos) << passed.finding->summary;

  o.console.push_back(Fact(kBoot + 9100, ConsoleFactKind::kFsckFailed,
                           "/dev/vda: UNEXPECTED INCONSISTENCY; RUN fsck MANUALLY."));
  RuleOutcome failed = CheckFsck(o);
  ASSERT_TRUE(failed.finding);
  EXPECT_EQ(failed.finding->severity, Severity::kCritical);
  EXPECT_TRUE(std::any_of(failed.finding->actions.begin(), failed.finding->actions.end(),
                          [](const Action& a) { return a.action == "rescue"; }));
}

TEST(Fsck, AnOrdinaryBootsCleanRootIsNoFinding) {
  Observation o = Healthy();
  o.console = {Fact(kBoot + 2000, ConsoleFactKind::kFsckStarted,
                    "Begin: Will now check root file system ... "),
               Fact(kBoot + 2100, ConsoleFactKind::kFsckPassed,
                    "kumo-root: clean, 12/65536 files, 8000/262144 blocks")};
  RuleOutcome out = CheckFsck(o);
  EXPECT_EQ(out.check.state, CheckState::kClear) << out.check.detail;
  EXPECT_NE(out.check.detail.find("no check needed"), std::string::npos);
}

TEST(BootStuck, QuotesTheConsoleWhenNoAgentAndNoLoginAppear) {
  Observation o = Healthy();
  o.server.agent = AgentState::kUnknown;
  o.server.agent_last_seen_ms = 0;
  o.console_tail = {"[    2.1] Run /init as init process", "waiting for /dev/vda..."};
  o.now_ms = kBoot + 60'000;
  EXPECT_EQ(CheckBootStuck(o).check.state, CheckState::kClear);  // not yet
  o.now_ms = kBoot + 100'000;
  RuleOutcome out = CheckBootStuck(o);
  ASSERT_TRUE(out.finding);
  EXPECT_NE(out.finding->summary.find("waiting for /dev/vda..."), std::string::npos);
  EXPECT_EQ(out.finding->evidence.size(), 2u);
  EXPECT_EQ(CheckAgentMissing(o).check.state, CheckState::kUnknown);
  // A login prompt means the boot finished: the image lacks an agent.
  o.console_tail.push_back("web login:");
  EXPECT_EQ(CheckBootStuck(o).check.state, CheckState::kClear);
  RuleOutcome missing = CheckAgentMissing(o);
  ASSERT_TRUE(missing.finding);
  EXPECT_NE(missing.finding->summary.find("no guest agent has answered"), std::string::npos);
}

TEST(HungTaskAndSoftLockup, NameTheTasks) {
  Observation o = Healthy();
  TimedFact hung = Fact(kNow - 1000, ConsoleFactKind::kHungTask,
                        "INFO: task dd:301 blocked for more than 5 seconds.");
  hung.fact.process = "dd";
  hung.fact.pid = 301;
  hung.fact.seconds = 5;
  o.console.push_back(hung);
  RuleOutcome out = CheckHungTask(o);
  ASSERT_TRUE(out.finding);
  EXPECT_NE(out.finding->summary.find("dd (pid 301)"), std::string::npos) << out.finding->summary;
  EXPECT_EQ(CheckSoftLockup(o).check.state, CheckState::kClear);
}

TEST(DiskFull, FromTheAgentOrTheConsole) {
  Observation o = Healthy();
  o.health->root_available_kib = 0;
  RuleOutcome out = CheckDiskFull(o);
  ASSERT_TRUE(out.finding);
  EXPECT_EQ(out.finding->severity, Severity::kCritical);
  EXPECT_NE(out.finding->summary.find("0 MiB available of 1000 MiB"), std::string::npos)
      << out.finding->summary;
  o.health.reset();
  EXPECT_EQ(CheckDiskFull(o).check.state, CheckState::kUnknown);
  o.console.push_back(
      Fact(kNow - 1000, ConsoleFactKind::kNoSpace, "dd: write error: No space left on device"));
  EXPECT_EQ(CheckDiskFull(o).check.state, CheckState::kFound);
}

TEST(AgentUnresponsive, SaysSinceWhenAndOffersForceStop) {
  Observation o = Healthy();
  o.server.agent = AgentState::kUnresponsive;
  o.server.agent_last_seen_ms = kNow - 35'000;
  o.console.push_back(OomLine(kNow - 36'000, 90, "kumo-agent", 2048));
  RuleOutcome out = CheckAgentUnresponsive(o);
  ASSERT_TRUE(out.finding);
  EXPECT_NE(out.finding->summary.find("(35 s)"), std::string::npos) << out.finding->summary;
  EXPECT_NE(out.finding->summary.find("the OOM killer killed it"), std::string::npos);
  EXPECT_TRUE(std::any_of(out.finding->actions.begin(), out.finding->actions.end(),
                          [](const Action& a) { return a.action == "force_stop"; }));
}

// A server whose image runs no agent is not flagged for an agent that was
// never meant to answer.
TEST(AgentUnresponsive, AServerWithoutAnAgentIsNotFlagged) {
  Observation o = Healthy();
  o.server.agent = AgentState::kNone;
  o.server.agent_last_seen_ms = 0;
  for (RuleFunction rule : {CheckAgentUnresponsive, CheckAgentMissing}) {
    RuleOutcome out = rule(o);
    EXPECT_FALSE(out.finding) << out.finding->summary;
    EXPECT_EQ(out.check.state, CheckState::kUnknown);
    EXPECT_NE(out.check.detail.find("runs no guest agent"), std::string::npos) << out.check.detail;
  }
}

TEST(SshDown, FromTheAgentOrTheProbe) {
  Observation o = Healthy();
  o.health->sshd_running = false;
  RuleOutcome out = CheckSshDown(o);
  ASSERT_TRUE(out.finding);
  EXPECT_NE(out.finding->summary.find("(the agent answers)"), std::string::npos);
  o.health = HealthyGuest();
  o.ssh = {SshProbe::Outcome::kNoBanner, kNow - 1000, kNow - 11'000, 3,
           "connection closed with no banner"};
  out = CheckSshDown(o);
  ASSERT_TRUE(out.finding);
  EXPECT_EQ(out.finding->since_ms, kNow - 11'000);
  EXPECT_EQ(out.finding->evidence.back().source, Source::kProbe);
  o.server.boot_mode = BootMode::kRescue;
  EXPECT_EQ(CheckSshDown(o).check.state, CheckState::kUnknown);
}

TEST(Diagnose, CausesComeBeforeSymptoms) {
  Observation o = Healthy();
  o.server.agent = AgentState::kUnresponsive;
  o.server.agent_last_seen_ms = kNow - 20'000;
  o.health->sshd_running = false;
  o.health->mem_available_kib = 10 * 1024;
  o.console.push_back(OomLine(kNow - 20'000, 212, "dropbear", 4096));
  EXPECT_EQ(Codes(Diagnose(o)), (std::vector<std::string>{"oom_kill", "memory_pressure",
                                                          "agent_unresponsive", "ssh_down"}));
}

}  // namespace
}  // namespace kumo::diagnosis
