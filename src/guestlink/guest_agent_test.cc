// QgaGuestAgent against a real kumo-agent --listen on a temporary unix
// socket. Power and password commands are recording stand-ins: the host's
// own are never touched.
#include "guestlink/guest_agent.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/utsname.h>

#include <optional>

#include "support/child_process.h"

namespace kumo::guestlink {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using kumo::testing::ChildProcess;
using kumo::testing::ReadFile;
using kumo::testing::TempDir;
using kumo::testing::WriteFile;
using json = nlohmann::json;

class GuestAgentTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (process_.pid() > 0) kill(process_.pid(), SIGCONT);
  }

  // Starts kumo-agent with `flags` and waits until it answers.
  void StartAgent(const std::vector<std::string>& flags) {
    socket_ = dir_ / "agent.sock";
    std::vector<std::string> argv = {KUMO_AGENT_PATH, "--listen", "unix:" + socket_};
    argv.insert(argv.end(), flags.begin(), flags.end());
    std::string err;
    ASSERT_TRUE(process_.Start(argv, dir_ / "agent.log", &err)) << err;
    agent_ = ConnectGuestAgent(io_, socket_);
    auto give_up = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < give_up) {
      if (Ping(1s)) return;
      std::this_thread::sleep_for(50ms);  // not bound or not listening yet
    }
    FAIL() << "kumo-agent never answered: " << ReadFile(dir_ / "agent.log");
  }

  // A stand-in program that appends its arguments, then its stdin, to `record`.
  std::string Recorder(const std::string& name, const std::string& record) {
    std::string path = dir_ / name;
    WriteFile(path, "#!/bin/sh\necho \"$*\" >> " + record + "\ncat >> " + record + "\n", 0755);
    return path;
  }

  bool RunUntil(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > end) return false;
      io_.restart();
      io_.run_for(10ms);
    }
    return true;
  }

  // Runs the loop until `slot` is filled.
  template <typename T>
  T Await(std::optional<T>& slot, std::chrono::milliseconds limit = 20s) {
    EXPECT_TRUE(RunUntil([&] { return slot.has_value(); }, limit)) << "no answer";
    return slot ? std::move(*slot) : T();
  }
  template <typename T>
  Result<T> Await(std::optional<Result<T>>& slot, std::chrono::milliseconds limit = 20s) {
    EXPECT_TRUE(RunUntil([&] { return slot.has_value(); }, limit)) << "no answer";
    return slot ? std::move(*slot) : Result<T>(Status("Test", "no answer"));
  }

  bool Ping(std::chrono::milliseconds timeout) {
    std::optional<bool> ok;
    agent_->Ping(timeout, [&](bool r) { ok = r; });
    return Await(ok);
  }
  Status Shutdown(ShutdownMode mode) {
    std::optional<Status> s;
    agent_->Shutdown(mode, [&](Status r) { s = r; });
    return Await(s);
  }
  Status SetUserPassword(const std::string& user, const std::string& password) {
    std::optional<Status> s;
    agent_->SetUserPassword(user, password, [&](Status r) { s = r; });
    return Await(s);
  }
  // Runs `command` and polls until it has exited.
  Result<ExecStatus> Run(const ExecCommand& command) {
    std::optional<Result<int64_t>> pid;
    agent_->Exec(command, [&](Result<int64_t> r) { pid = std::move(r); });
    Result<int64_t> started = Await(pid);
    if (!started.ok()) return started.status();
    for (int i = 0; i < 200; ++i) {
      std::optional<Result<ExecStatus>> status;
      agent_->GetExecStatus(*started, [&](Result<ExecStatus> r) { status = std::move(r); });
      Result<ExecStatus> s = Await(status);
      if (!s.ok() || s->exited) return s;
      RunUntil([] { return false; }, 50ms);
    }
    return Status("Test", "never exited");
  }
  template <typename T>
  Result<T> Ask(void (GuestAgent::*method)(GuestAgent::Callback<T>)) {
    std::optional<Result<T>> r;
    ((*agent_).*method)([&](Result<T> v) { r = std::move(v); });
    return Await(r);
  }

  asio::io_context io_;
  TempDir dir_;
  std::string socket_;
  ChildProcess process_;
  std::shared_ptr<GuestAgent> agent_;
};

TEST_F(GuestAgentTest, PingAnswersAndAStoppedAgentIsFalseWithinTheTimeout) {
  StartAgent({});
  EXPECT_TRUE(Ping(2s));
  ASSERT_EQ(kill(process_.pid(), SIGSTOP), 0);
  auto asked = std::chrono::steady_clock::now();
  EXPECT_FALSE(Ping(300ms));
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 1s);
  ASSERT_EQ(kill(process_.pid(), SIGCONT), 0);
  EXPECT_TRUE(Ping(2s)) << "the late answer to the lost ping must not confuse the next one";
}

TEST_F(GuestAgentTest, ShutdownRunsThePowerCommandWithTheMode) {
  std::string record = dir_ / "power.log";
  StartAgent({"--power-command", Recorder("power", record)});
  EXPECT_TRUE(Shutdown(ShutdownMode::kPowerdown).ok());
  EXPECT_TRUE(Shutdown(ShutdownMode::kReboot).ok());
  EXPECT_EQ(ReadFile(record), "powerdown\nreboot\n");
}

TEST_F(GuestAgentTest, ShutdownReportsAFailingPowerCommand) {
  WriteFile(dir_ / "power", "#!/bin/sh\nexit 1\n", 0755);
  StartAgent({"--power-command", dir_ / "power"});
  Status s = Shutdown(ShutdownMode::kHalt);
  EXPECT_EQ(s.code(), codes::kGuestCommandFailed) << s.ToString();
}

TEST_F(GuestAgentTest, ShutdownOfAStoppedAgentIsNotResponding) {
  StartAgent({"--power-command", Recorder("power", dir_ / "power.log")});
  ASSERT_EQ(kill(process_.pid(), SIGSTOP), 0);
  Status s = Shutdown(ShutdownMode::kPowerdown);
  EXPECT_EQ(s.code(), codes::kGuestAgentNotResponding) << s.ToString();
}

TEST_F(GuestAgentTest, SetUserPasswordFeedsTheStandIn) {
  std::string record = dir_ / "chpasswd.log";
  StartAgent({"--passwd-command", Recorder("chpasswd", record)});
  Status s = SetUserPassword("root", "s3cret pass");
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(ReadFile(record), "\nroot:s3cret pass\n");
}

TEST_F(GuestAgentTest, RefusedCommandsAreGuestCommandFailed) {
  StartAgent({});  // no --passwd-command, no --allow-exec: both are disabled
  Status s = SetUserPassword("root", "pw");
  EXPECT_EQ(s.code(), codes::kGuestCommandFailed) << s.ToString();
  EXPECT_NE(s.message().find("disabled"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("(CommandNotFound)"), std::string::npos) << s.message();
  auto r = Run({"/bin/true", {}, "", true});
  EXPECT_EQ(r.status().code(), codes::kGuestCommandFailed) << r.status().ToString();
}

TEST_F(GuestAgentTest, ExecReturnsOutputAndExitCode) {
  StartAgent({"--allow-exec"});
  auto r = Run({"/bin/sh", {"-c", "cat; echo err >&2; exit 3"}, "hello\n", true});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->exited);
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->signal, 0);
  EXPECT_EQ(r->stdout_text, "hello\n");
  EXPECT_EQ(r->stderr_text, "err\n");

  auto killed = Run({"/bin/sh", {"-c", "kill -9 $$"}, "", true});
  ASSERT_TRUE(killed.ok()) << killed.status().ToString();
  EXPECT_EQ(killed->signal, 9);
}

// Like qemu-ga, kumo-agent reports a program it could not start as an error
// of guest-exec itself.
TEST_F(GuestAgentTest, ExecOfAMissingProgramIsRefused) {
  StartAgent({"--allow-exec"});
  auto r = Run({"/nonexistent/program", {}, "", true});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), codes::kGuestCommandFailed) << r.status().ToString();
  EXPECT_NE(r.status().message().find("No such file"), std::string::npos) << r.status().message();
}

TEST_F(GuestAgentTest, ExecStatusOfAnUnknownPidIsGuestCommandFailed) {
  StartAgent({"--allow-exec"});
  std::optional<Result<ExecStatus>> r;
  agent_->GetExecStatus(999999999, [&](Result<ExecStatus> v) { r = std::move(v); });
  auto s = Await(r);
  EXPECT_EQ(s.status().code(), codes::kGuestCommandFailed) << s.status().ToString();
}

TEST_F(GuestAgentTest, OsInfoAndNetworkInterfacesArePlausible) {
  StartAgent({});
  utsname u{};
  uname(&u);
  auto os = Ask<OsInfo>(&GuestAgent::GetOsInfo);
  ASSERT_TRUE(os.ok()) << os.status().ToString();
  EXPECT_EQ(os->kernel_release, u.release);
  EXPECT_EQ(os->machine, u.machine);
  EXPECT_FALSE(os->id.empty());

  auto interfaces = Ask<std::vector<NetworkInterface>>(&GuestAgent::GetNetworkInterfaces);
  ASSERT_TRUE(interfaces.ok()) << interfaces.status().ToString();
  bool loopback = false;
  for (const auto& i : *interfaces) {
    for (const auto& a : i.ip_addresses) loopback |= i.name == "lo" && a == "127.0.0.1/8";
  }
  EXPECT_TRUE(loopback);
}

TEST_F(GuestAgentTest, HealthIsAnObjectWithMemory) {
  StartAgent({});
  auto h = Ask<json>(&GuestAgent::Health);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_TRUE(h->contains("memory")) << h->dump();
}

TEST_F(GuestAgentTest, InitStatusWithNothingRecordedIsGuestCommandFailed) {
  if (std::filesystem::exists("/var/lib/kumo/init")) GTEST_SKIP() << "this host has a report";
  StartAgent({});
  auto r = Ask<json>(&GuestAgent::InitStatus);
  EXPECT_EQ(r.status().code(), codes::kGuestCommandFailed) << r.status().ToString();
}

TEST_F(GuestAgentTest, CommandIsTheEscapeHatch) {
  StartAgent({});
  std::optional<Result<json>> info, unknown;
  agent_->Command("guest-info", json(), 3s, [&](Result<json> r) { info = std::move(r); });
  agent_->Command("guest-no-such-thing", json::object(), 3s,
                  [&](Result<json> r) { unknown = std::move(r); });
  auto i = Await(info);
  ASSERT_TRUE(i.ok()) << i.status().ToString();
  EXPECT_TRUE((*i)["version"].is_string());
  auto u = Await(unknown);
  EXPECT_EQ(u.status().code(), codes::kGuestCommandFailed);
}

TEST_F(GuestAgentTest, AMissingSocketIsNotResponding) {
  agent_ = ConnectGuestAgent(io_, dir_ / "nobody.sock");
  auto h = Ask<json>(&GuestAgent::Health);
  EXPECT_EQ(h.status().code(), codes::kGuestAgentNotResponding) << h.status().ToString();
  EXPECT_NE(h.status().message().find("cannot connect"), std::string::npos);
}

TEST_F(GuestAgentTest, CloseFailsCallsInFlightOnceAndNeverInline) {
  StartAgent({});
  ASSERT_EQ(kill(process_.pid(), SIGSTOP), 0);
  int health_calls = 0, ping_calls = 0, after_calls = 0;
  bool returned = false;
  std::optional<Status> health, after;
  agent_->Health([&](Result<json> r) {
    EXPECT_TRUE(returned);
    ++health_calls;
    health = r.status();
  });
  agent_->Ping(5s, [&](bool ok) {
    EXPECT_FALSE(ok);
    ++ping_calls;
  });
  RunUntil([] { return false; }, 100ms);  // the health call is waiting on the agent
  auto closed_at = std::chrono::steady_clock::now();
  agent_->Close();
  agent_->GetOsInfo([&](Result<OsInfo> r) {
    EXPECT_TRUE(returned);
    ++after_calls;
    after = r.status();
  });
  returned = true;
  ASSERT_TRUE(RunUntil([&] { return health_calls + ping_calls + after_calls == 3; }, 1s));
  EXPECT_LT(std::chrono::steady_clock::now() - closed_at, 1s);
  EXPECT_EQ(health->code(), codes::kGuestAgentNotResponding);
  EXPECT_EQ(after->code(), codes::kGuestAgentNotResponding);
  RunUntil([] { return false; }, 3500ms);  // no timer answers a second time
  EXPECT_EQ(health_calls + ping_calls + after_calls, 3);
}

TEST_F(GuestAgentTest, DestroyingTheAgentAnswersCallsInFlight) {
  StartAgent({});
  ASSERT_EQ(kill(process_.pid(), SIGSTOP), 0);
  std::optional<Status> health;
  agent_->Health([&](Result<json> r) { health = r.status(); });
  agent_.reset();
  ASSERT_TRUE(RunUntil([&] { return health.has_value(); }, 1s));
  EXPECT_EQ(health->code(), codes::kGuestAgentNotResponding);
}

}  // namespace
}  // namespace kumo::guestlink
