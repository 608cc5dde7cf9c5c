// ServerObserver on simulated time, with the parts it reads from real where
// they can be: a real SQLite store and ledger, a real ServerCore with its
// real ConsoleBroker per launch (connected to a unix socket the test listens
// on, as QEMU's serial chardev does, and written to like a guest's ttyS0),
// console.log on disk, and the series' ring files. QEMU (FakeDriver) and the
// guest's agent (a FakeGuestAgent whose kumo-health can be held back) are
// simulated, and so is time, except for the console bytes, which travel
// through the kernel in real time.
#include "diagnosis/server_observer.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "hypervisor/fake_driver.h"
#include "store/sqlite_store.h"
#include "support/child_process.h"
#include "support/core_fixtures.h"
#include "support/fake_guest_agent.h"
#include "support/io_loop.h"
#include "support/simulated_clock.h"

namespace kumo::diagnosis {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using testing::FakeGuestAgent;

constexpr auto kInterval = 5000ms;
constexpr char kOomLine[] =
    "[   23.5] Out of memory: Killed process 212 (%s) total-vm:4532kB, anon-rss:200kB, "
    "file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:52kB oom_score_adj:1000\r\n";

std::string OomLine(const std::string& victim) {
  char line[256];
  snprintf(line, sizeof line, kOomLine, victim.c_str());
  return line;
}

// QEMU's side of a server's serial console: the FIFOs at MachinePaths::
// console_output_fifo() and console_input_fifo(), held open read-write as
// QEMU holds them (the broker opens them), and console.log, which QEMU
// appends everything the guest prints to.
class GuestConsole {
 public:
  explicit GuestConsole(const std::string& run_dir) : paths_{run_dir} {
    std::filesystem::create_directories(run_dir);
    for (const std::string& fifo : {paths_.console_output_fifo(), paths_.console_input_fifo()}) {
      EXPECT_EQ(mkfifo(fifo.c_str(), 0600), 0) << fifo << ": " << strerror(errno);
      fds_.push_back(open(fifo.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
      EXPECT_GE(fds_.back(), 0) << fifo;
    }
  }
  ~GuestConsole() {
    for (int fd : fds_) close(fd);
  }
  void Print(const std::string& text) {
    std::ofstream(paths_.console_log(), std::ios::app) << text;
    ASSERT_EQ(write(fds_[0], text.data(), text.size()), static_cast<ssize_t>(text.size()))
        << strerror(errno);
  }

 private:
  hypervisor::MachinePaths paths_;
  std::vector<int> fds_;  // output, input
};

// A guest agent whose kumo-health answers can be held back, as a thrashing
// guest's are: the answer describes the guest when it was asked.
class SlowHealthAgent : public FakeGuestAgent {
 public:
  using FakeGuestAgent::FakeGuestAgent;
  void Health(Callback<json> done) override {
    if (!hold_) return FakeGuestAgent::Health(std::move(done));
    held_.push_back(std::move(done));
  }
  void Hold() { hold_ = true; }
  size_t held() const { return held_.size(); }
  // Answers the held requests with `snapshot` and stops holding.
  void Answer(const json& snapshot) {
    hold_ = false;
    for (auto& done : held_) done(Result<json>(snapshot));
    held_.clear();
  }

 private:
  bool hold_ = false;
  std::vector<Callback<json>> held_;
};

class ServerObserverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::SqliteStore::Open(dir_ / "kumod.db");
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    store_ = std::move(*opened);
    NewKumod();
    ASSERT_TRUE(core_->RegisterImage(testing::TestImage()).ok());
  }
  void TearDown() override {
    observer_.reset();
    core_.reset();
  }

  // A kumod (ledger, core, observer) on the same state dir and store; the
  // QEMUs (the driver's machines) run on, as after a restart of kumod.
  void NewKumod() {
    KillKumod();
    StartKumod();
  }
  // kumod is gone (its QEMUs run on); StartKumod is the next one.
  void KillKumod() {
    observer_.reset();
    core_.reset();
    ledger_.reset();
  }
  void StartKumod() {
    ledger_ = std::make_unique<core::ServerLedger>(*store_, clock_);
    core_ = std::make_unique<core::ServerCore>(
        core::CoreParts{io_, clock_, *ledger_, *store_, driver_,
                        [this](const std::string& socket) { return ConnectAgent(socket); }},
        testing::SimulatedCoreConfig(dir_.path().string()));
    core_->Recover();
    ObserverConfig config;
    config.state_dir = dir_.path().string();
    config.health_interval = kInterval;
    observer_ = std::make_unique<ServerObserver>(io_, clock_, *ledger_, *core_, std::move(config));
    observer_->Start();
  }

  std::shared_ptr<guestlink::GuestAgent> ConnectAgent(const std::string& socket) {
    std::string name = std::filesystem::path(socket).parent_path().filename();
    auto agent = std::make_shared<SlowHealthAgent>(io_, clock_);
    if (no_role_.count(name)) agent->set_agent_role("");  // guest-info as qemu-ga answers it
    if (stock_.count(name)) {
      // qemu-ga refuses every kumo- command; the fake fails as many as queued.
      for (int i = 0; i < 100; ++i) {
        agent->fail_next("kumo-health",
                         Status(codes::kGuestCommandFailed,
                                "The command kumo-health has not been found (CommandNotFound)"));
      }
    } else {
      agent->set_health(health_[name]);
    }
    agents_[name].push_back(agent);
    return agent;
  }
  SlowHealthAgent& Agent(const std::string& name) { return *agents_.at(name).back(); }
  // What the guest's kumo-health answers from now on (and after re-attach).
  void SetHealth(const std::string& name, json health) {
    health_[name] = health;
    if (agents_.count(name)) Agent(name).set_health(std::move(health));
  }
  json Health(const std::vector<json>& oom_kills = {}) {
    return {{"time", clock_.NowMs() / 1000.0},
            {"uptime_s", 30},
            {"load", {{"1m", 0.2}, {"5m", 0.1}, {"15m", 0.1}}},
            {"memory", {{"total_kib", 262144}, {"available_kib", 150000}}},
            {"sshd", {{"running", true}, {"pid", 90}, {"program", "dropbear"}}},
            {"oom_kills", oom_kills}};
  }
  json Kill(const std::string& process) {
    return {
        {"time", clock_.NowMs() / 1000.0}, {"pid", 212}, {"process", process}, {"rss_kib", 200}};
  }

  std::string RunDir(const std::string& name) { return dir_ / ("servers/" + name); }
  std::string StatusOf(const std::string& name) {
    auto r = core_->Get(name);
    return r.ok() ? std::string(ToString(r->status)) : "gone";
  }
  bool ReachStatus(const std::string& name, const std::string& status) {
    return clock_.RunUntil([&] { return StatusOf(name) == status; }, 10s);
  }
  void CreateRunning(const std::string& name, const std::string& image = "kumo-guest") {
    core::ServerSpec s;
    s.name = name;
    s.image = image;
    auto r = core_->Create(s);
    ASSERT_TRUE(r.ok()) << r.status().message();
    ASSERT_TRUE(ReachStatus(name, "running")) << StatusOf(name);
  }
  // Waits (real time: the bytes go through a FIFO) for the server's current
  // console broker to open `console`.
  void ConnectConsole(const std::string& name) {
    ASSERT_TRUE(testing::RunUntil(
        io_,
        [&] {
          auto broker = core_->Console(name);
          return broker.ok() && (*broker)->connected();
        },
        5s))
        << "the console broker never opened the FIFOs";
  }

  std::optional<Finding> FindingOf(const std::string& name, const std::string& code) {
    auto d = observer_->Diagnose(name);
    if (!d.ok()) return std::nullopt;
    for (const Finding& f : d->findings) {
      if (f.code == code) return f;
    }
    return std::nullopt;
  }
  Check CheckOf(const std::string& name, const std::string& code) {
    auto d = observer_->Diagnose(name);
    for (const Check& c : d->checks) {
      if (c.code == code) return c;
    }
    ADD_FAILURE() << "no check " << code;
    return {};
  }
  // Waits (real time) until the console's output has become `code`.
  bool ConsoleFinds(const std::string& name, const std::string& code) {
    return testing::RunUntil(
        io_, [&] { return FindingOf(name, code).has_value(); }, 5s);
  }
  std::vector<EventRecord> EventsOf(const std::string& name, const std::string& kind,
                                    const std::string& text = "") {
    std::vector<EventRecord> out;
    auto events = core_->Events(name, 0, 1000);
    for (const auto& e : *events) {
      if (e.kind == kind && e.message.find(text) != std::string::npos) out.push_back(e);
    }
    return out;
  }

  testing::TempDir dir_;
  boost::asio::io_context io_;
  testing::SimulatedClock clock_{io_};
  std::unique_ptr<store::Store> store_;
  hypervisor::FakeDriver driver_{io_};
  std::unique_ptr<core::ServerLedger> ledger_;
  std::unique_ptr<core::ServerCore> core_;
  std::unique_ptr<ServerObserver> observer_;
  std::map<std::string, std::vector<std::shared_ptr<SlowHealthAgent>>> agents_;
  std::map<std::string, json> health_;
  std::set<std::string> stock_;
  std::set<std::string> no_role_;  // agents whose guest-info names no kumo-role
};

TEST_F(ServerObserverTest, OomKillOnTheConsoleIsNamedWithTheAgentsSpelling) {
  SetHealth("web", Health());
  CreateRunning("web");
  GuestConsole console(RunDir("web"));
  ConnectConsole("web");
  clock_.Advance(kInterval);  // the agent has answered kumo-health

  console.Print("[   23.4] hog invoked oom-killer: gfp_mask=0x140cca, order=0\r\n" +
                OomLine("dropbbear"));
  ASSERT_TRUE(ConsoleFinds("web", "oom_kill")) << "the console line did not reach the diagnosis";

  // The agent's record of the kill spells the victim right.
  SetHealth("web", Health({Kill("dropbear")}));
  clock_.Advance(2 * kInterval);
  auto oom = EventsOf("web", "oom");
  ASSERT_EQ(oom.size(), 1u);
  EXPECT_EQ(oom[0].message.rfind("OOM killer killed dropbear (pid 212", 0), 0u) << oom[0].message;
  EXPECT_EQ(EventsOf("web", "diagnosis", "the OOM killer killed dropbear (pid 212").size(), 1u);
  EXPECT_TRUE(EventsOf("web", "diagnosis", "dropbbear").empty());

  clock_.Advance(4 * kInterval);
  EXPECT_EQ(EventsOf("web", "oom").size(), 1u) << "a kill is noted once";
  EXPECT_EQ(EventsOf("web", "diagnosis", "OOM killer").size(), 1u);
}

TEST_F(ServerObserverTest, OomKillTheAgentDoesNotReportIsNotedWithinTwoIntervals) {
  SetHealth("web", Health());
  CreateRunning("web");
  GuestConsole console(RunDir("web"));
  ConnectConsole("web");
  clock_.Advance(kInterval);

  console.Print(OomLine("dropbear"));
  ASSERT_TRUE(ConsoleFinds("web", "oom_kill"));
  EXPECT_EQ(FindingOf("web", "oom_kill")->severity, Severity::kCritical) << "the SSH server died";

  clock_.Advance(2 * kInterval);
  auto oom = EventsOf("web", "oom");
  ASSERT_EQ(oom.size(), 1u);
  EXPECT_EQ(oom[0].message.rfind("OOM killer killed dropbear (pid 212", 0), 0u) << oom[0].message;
  EXPECT_EQ(EventsOf("web", "diagnosis", "the OOM killer killed dropbear").size(), 1u);

  clock_.Advance(4 * kInterval);
  EXPECT_EQ(EventsOf("web", "oom").size(), 1u);
  EXPECT_EQ(EventsOf("web", "diagnosis", "OOM killer").size(), 1u);
  // The server list shows it per row, while the server runs.
  auto top = observer_->TopFinding("web");
  ASSERT_TRUE(top);
  EXPECT_EQ(top->code, "oom_kill");
  EXPECT_FALSE(observer_->TopFinding("nothing"));
}

TEST_F(ServerObserverTest, SlowHealthAnswerAskedBeforeTheKillDoesNotSettleTheVictimsName) {
  SetHealth("web", Health());
  CreateRunning("web");
  GuestConsole console(RunDir("web"));
  ConnectConsole("web");
  clock_.Advance(kInterval);
  Agent("web").Hold();
  clock_.Advance(kInterval);  // kumo-health asked; the guest is slow to answer
  ASSERT_EQ(Agent("web").held(), 1u);

  console.Print(OomLine("dropbbear"));
  ASSERT_TRUE(ConsoleFinds("web", "oom_kill"));
  Agent("web").Answer(Health());  // from before the kill: it names no victim
  SetHealth("web", Health({Kill("dropbear")}));
  clock_.Advance(2 * kInterval);

  auto oom = EventsOf("web", "oom");
  ASSERT_EQ(oom.size(), 1u);
  EXPECT_EQ(oom[0].message.rfind("OOM killer killed dropbear (pid 212", 0), 0u) << oom[0].message;
}

TEST_F(ServerObserverTest, OomKillIsNotedWithinTwoIntervalsWhileKumoHealthHangs) {
  SetHealth("web", Health());
  CreateRunning("web");
  GuestConsole console(RunDir("web"));
  ConnectConsole("web");
  clock_.Advance(kInterval);
  Agent("web").Hold();  // kumo-health gets no answer; the agent still answers pings
  clock_.Advance(1500ms);

  console.Print(OomLine("dropbear"));
  ASSERT_TRUE(ConsoleFinds("web", "oom_kill"));
  clock_.Advance(2 * kInterval);
  ASSERT_EQ(StatusOf("web"), "running");
  auto oom = EventsOf("web", "oom");
  ASSERT_EQ(oom.size(), 1u) << "two intervals passed without the agent's spelling";
  EXPECT_EQ(oom[0].message.rfind("OOM killer killed dropbear (pid 212", 0), 0u) << oom[0].message;
  EXPECT_EQ(EventsOf("web", "diagnosis", "the OOM killer killed dropbear").size(), 1u);
}

TEST_F(ServerObserverTest, AgentThatStopsAnsweringPutsTheReasonInTheTimeline) {
  SetHealth("web", Health());
  CreateRunning("web");
  clock_.Advance(kInterval);
  Agent("web").set_frozen(true);
  ASSERT_TRUE(ReachStatus("web", "warning"));
  clock_.Advance(kInterval);

  auto noted = EventsOf("web", "diagnosis", "the guest agent has not answered since");
  ASSERT_EQ(noted.size(), 1u);
  EXPECT_EQ(noted[0].status, "warning");
  ASSERT_TRUE(FindingOf("web", "agent_unresponsive"));
}

TEST_F(ServerObserverTest, RestartReplaysTheScrollback) {
  SetHealth("web", Health());
  CreateRunning("web");
  GuestConsole console(RunDir("web"));
  ConnectConsole("web");
  console.Print(OomLine("dropbear"));
  ASSERT_TRUE(ConsoleFinds("web", "oom_kill"));
  clock_.Advance(3 * kInterval);
  ASSERT_EQ(EventsOf("web", "oom").size(), 1u);
  console.Print(
      "[   40.0] sysrq: Trigger a crash\r\n"
      "[   40.1] Kernel panic - not syncing: sysrq triggered crash\r\n");
  ASSERT_TRUE(ConsoleFinds("web", "kernel_panic"));

  NewKumod();
  auto panic = FindingOf("web", "kernel_panic");
  ASSERT_TRUE(panic) << "the panic before the restart is in console.log";
  EXPECT_NE(panic->summary.find("sysrq triggered crash"), std::string::npos) << panic->summary;
  EXPECT_TRUE(FindingOf("web", "oom_kill"));
  ConnectConsole("web");  // the new kumod's broker
  clock_.Advance(4 * kInterval);
  EXPECT_EQ(EventsOf("web", "oom").size(), 1u) << "the kill was noted before the restart";
}

// What the kernel printed while no kumod ran is in console.log and still in
// the console pipe: the next kumod reads it twice (the scrollback, then the
// pipe), and notes the kill once.
TEST_F(ServerObserverTest, AKillPrintedWhileNoKumodRanIsNotedOnce) {
  SetHealth("web", Health());
  CreateRunning("web");
  GuestConsole console(RunDir("web"));
  ConnectConsole("web");
  clock_.Advance(kInterval);
  KillKumod();
  console.Print(OomLine("dropbear"));
  StartKumod();
  ConnectConsole("web");
  ASSERT_TRUE(ConsoleFinds("web", "oom_kill"));
  clock_.Advance(4 * kInterval);
  auto oom = EventsOf("web", "oom");
  ASSERT_EQ(oom.size(), 1u);
  auto finding = FindingOf("web", "oom_kill");
  ASSERT_TRUE(finding);
  const std::string victim = "dropbear (pid 212";
  size_t first = finding->summary.find(victim);
  ASSERT_NE(first, std::string::npos) << finding->summary;
  EXPECT_EQ(finding->summary.find(victim, first + 1), std::string::npos)
      << "named twice: " << finding->summary;
}

TEST_F(ServerObserverTest, OomKillNotYetNotedWhenKumodDiedIsNotedAfterTheRestart) {
  SetHealth("web", Health());
  CreateRunning("web");
  GuestConsole console(RunDir("web"));
  ConnectConsole("web");
  clock_.Advance(kInterval);
  console.Print(OomLine("dropbear"));
  ASSERT_TRUE(ConsoleFinds("web", "oom_kill"));
  ASSERT_TRUE(EventsOf("web", "oom").empty()) << "still waiting for the agent's spelling";

  NewKumod();  // died while waiting
  ConnectConsole("web");
  clock_.Advance(4 * kInterval);
  auto oom = EventsOf("web", "oom");
  ASSERT_EQ(oom.size(), 1u);
  EXPECT_EQ(oom[0].message.rfind("OOM killer killed dropbear (pid 212", 0), 0u) << oom[0].message;
}

TEST_F(ServerObserverTest, RestartDoesNotMistakeAnEarlierQemusKillForThisOnes) {
  SetHealth("web", Health());
  CreateRunning("web");
  GuestConsole console(RunDir("web"));
  ConnectConsole("web");
  console.Print(OomLine("dropbear"));
  ASSERT_TRUE(ConsoleFinds("web", "oom_kill"));
  clock_.Advance(3 * kInterval);
  ASSERT_EQ(EventsOf("web", "oom").size(), 1u);
  ASSERT_TRUE(core_->Stop("web", true).ok());
  ASSERT_TRUE(ReachStatus("web", "stopped"));
  ASSERT_TRUE(core_->Start("web").ok());
  ASSERT_TRUE(ReachStatus("web", "running"));
  ConnectConsole("web");  // QEMU takes each broker's connection at once

  NewKumod();
  ConnectConsole("web");
  // A small guest starts its daemons at the same pids every boot.
  console.Print(OomLine("dropbear"));
  ASSERT_TRUE(ConsoleFinds("web", "oom_kill"));
  clock_.Advance(3 * kInterval);
  EXPECT_EQ(EventsOf("web", "oom").size(), 2u) << "this QEMU's kill is a new one";
}

TEST_F(ServerObserverTest, SeriesSurviveTheRestart) {
  SetHealth("web", Health());
  CreateRunning("web");
  clock_.Advance(6 * kInterval);
  auto before = observer_->Series("web", telemetry::Resolution::k5s, 0, INT64_MAX);
  ASSERT_TRUE(before.ok());
  ASSERT_GE(before->size(), 5u);

  NewKumod();
  auto after = observer_->Series("web", telemetry::Resolution::k5s, 0, INT64_MAX);
  ASSERT_TRUE(after.ok());
  // The new kumod's first sample may replace the last one of the same 5 s step.
  std::set<int64_t> steps;
  for (const auto& s : *after) steps.insert(s.time_ms / 5000);
  for (const auto& s : *before) {
    EXPECT_TRUE(steps.count(s.time_ms / 5000)) << "the sample of " << s.time_ms << " is gone";
  }
  EXPECT_FLOAT_EQ(after->front().load1, 0.2f);
}

TEST_F(ServerObserverTest, SeriesOfAStoppedServerSurviveTheRestart) {
  SetHealth("web", Health());
  CreateRunning("web");
  clock_.Advance(6 * kInterval);
  auto before = observer_->Series("web", telemetry::Resolution::k5s, 0, INT64_MAX);
  ASSERT_TRUE(before.ok());
  ASSERT_GE(before->size(), 5u);
  ASSERT_TRUE(core_->Stop("web", true).ok());
  ASSERT_TRUE(ReachStatus("web", "stopped"));

  NewKumod();
  auto after = observer_->Series("web", telemetry::Resolution::k5s, 0, INT64_MAX);
  ASSERT_TRUE(after.ok());
  EXPECT_GE(after->size(), before->size()) << "the history before the stop is on disk";
}

TEST_F(ServerObserverTest, StockAgentIsNotAskedForKumoHealthEveryInterval) {
  stock_.insert("web");
  CreateRunning("web");
  const auto& asked = Agent("web").commands();
  // The core asks once at boot (for the agent's pid); the observer's own asks come after.
  const auto at_boot = std::count(asked.begin(), asked.end(), "kumo-health");
  clock_.Advance(10 * kInterval);

  Check memory = CheckOf("web", "memory_pressure");
  EXPECT_EQ(memory.state, CheckState::kUnknown);
  EXPECT_NE(memory.detail.find("stock qemu-ga"), std::string::npos) << memory.detail;
  EXPECT_EQ(std::count(asked.begin(), asked.end(), "kumo-health") - at_boot, 1)
      << "50 s of a stock agent: asked once, not every 5 s";
}

TEST_F(ServerObserverTest, AnImageWithQemuGaIsNeverAskedForKumoHealthAndTheCheckSaysWhy) {
  ImageRecord ga = testing::TestImage();
  ga.name = "with-qemu-ga";
  ga.agent_kind = "qemu-ga";
  ASSERT_TRUE(core_->RegisterImage(ga).ok());
  SetHealth("web", Health());  // it would answer: guest-info's word (qemu-ga) is what counts
  no_role_.insert("web");
  CreateRunning("web", "with-qemu-ga");
  clock_.Advance(10 * kInterval);

  const auto& asked = Agent("web").commands();
  EXPECT_EQ(std::count(asked.begin(), asked.end(), "kumo-health"), 0);
  Check memory = CheckOf("web", "memory_pressure");
  EXPECT_EQ(memory.state, CheckState::kUnknown);
  EXPECT_EQ(memory.detail,
            "not available: the image's agent is qemu-ga (kumo-health needs kumo-agent)");
  EXPECT_EQ(core_->AgentKindOf(*core_->Get("web")), "qemu-ga");
}

TEST_F(ServerObserverTest, NewQemuForgetsThePreviousBootsConsole) {
  SetHealth("web", Health());
  CreateRunning("web");
  GuestConsole console(RunDir("web"));
  ConnectConsole("web");
  console.Print(OomLine("dropbear") + "[   40.1] Kernel panic - not syncing: Fatal exception\r\n");
  ASSERT_TRUE(ConsoleFinds("web", "kernel_panic"));
  ASSERT_TRUE(FindingOf("web", "oom_kill"));
  clock_.Advance(3 * kInterval);
  ASSERT_EQ(EventsOf("web", "oom").size(), 1u);

  ASSERT_TRUE(core_->Stop("web", true).ok());
  ASSERT_TRUE(ReachStatus("web", "stopped"));
  ASSERT_TRUE(core_->Start("web").ok());
  ASSERT_TRUE(ReachStatus("web", "running"));
  EXPECT_EQ(CheckOf("web", "kernel_panic").state, CheckState::kClear);
  EXPECT_EQ(CheckOf("web", "oom_kill").state, CheckState::kClear);

  // This boot's kill of a process with the same pid is a new kill.
  ConnectConsole("web");
  console.Print(OomLine("dropbear"));
  ASSERT_TRUE(ConsoleFinds("web", "oom_kill"));
  clock_.Advance(3 * kInterval);
  EXPECT_EQ(EventsOf("web", "oom").size(), 2u);
}

}  // namespace
}  // namespace kumo::diagnosis
