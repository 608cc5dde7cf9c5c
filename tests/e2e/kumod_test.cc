// End to end: a real kumod runs real QEMU guests (TCG) with the project's
// guest image; the tests drive it through the REST API like an operator
// would, and check what the operator would check.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <thread>

#include "e2e/kumod_harness.h"

namespace kumo {
namespace {

using testing::json;
using testing::KumodHarness;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr double kBootTimeout = 180;  // TCG on a loaded 2-core CI machine

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

class Kumod : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string err;
    ASSERT_TRUE(kumod_.Start(&err)) << err;
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "--- kumod log ---\n" << kumod_.log() << "\n";
  }

  json CreateRunning(const std::string& name) {
    auto r = kumod_.Call("POST", "/v1/servers", {{"name", name}, {"memory_mib", 192}});
    EXPECT_EQ(r.status, 201) << r.body;
    json s = kumod_.WaitStatus(name, "running", kBootTimeout);
    EXPECT_EQ(s["status"], "running") << s.dump();
    return s;
  }

  KumodHarness kumod_;
};

TEST_F(Kumod, CliCreatesAServerThatGoesFromPendingToRunning) {
  std::string out;
  ASSERT_EQ(kumod_.RunCli({"images"}, &out), 0) << out;
  EXPECT_NE(out.find("kumo-guest"), std::string::npos) << out;

  ASSERT_EQ(kumod_.RunCli({"--json", "create", "cli", "--memory", "192"}, &out), 0) << out;
  json created = json::parse(out, nullptr, false);
  ASSERT_TRUE(created.is_object()) << out;
  EXPECT_EQ(created["status"], "pending");
  EXPECT_EQ(created["task"], "creating");

  EXPECT_EQ(kumod_.RunCli({"wait", "cli", "--status", "running", "--timeout", "180"}, &out), 0)
      << out;
  ASSERT_EQ(kumod_.RunCli({"list"}, &out), 0) << out;
  EXPECT_NE(out.find("cli"), std::string::npos) << out;
  EXPECT_NE(out.find("running"), std::string::npos) << out;

  // exec runs in the guest and passes its output and exit code through.
  EXPECT_EQ(kumod_.RunCli({"exec", "cli", "--", "/bin/cat", "/etc/os-release"}, &out), 0) << out;
  EXPECT_NE(out.find("kumo guest"), std::string::npos) << out;
  EXPECT_EQ(kumod_.RunCli({"exec", "cli", "--", "/bin/sh", "-c", "exit 3"}, &out), 3) << out;

  // The state directory is private: the disk, seed, console log, pidfile,
  // sockets, database (with -wal, -shm) and token are 0600 or stricter, every
  // directory 0700 — but QEMU's user must pass through two of them to reach
  // its run directory (the state directory and servers/: 0710, the group may
  // only traverse; docs/kumod.md, "QEMU's user and sandbox").
  std::vector<std::string> loose;
  size_t seen = 0;
  const std::filesystem::path state = kumod_.state_dir();
  auto check = [&](const std::filesystem::path& p) {
    struct stat st {};
    ASSERT_EQ(lstat(p.c_str(), &st), 0) << p;
    mode_t mode = st.st_mode & 07777;
    const bool passage = p == state || p == state / "servers";
    bool ok = S_ISDIR(st.st_mode) ? (mode == 0700 || (passage && mode == 0710))
                                  : (mode & (S_ISSOCK(st.st_mode) ? 077 : 0177)) == 0;
    ++seen;
    if (!ok)
      loose.push_back(p.string() + " " + std::to_string(mode >> 6) +
                      std::to_string((mode >> 3) & 7) + std::to_string(mode & 7));
  };
  check(kumod_.state_dir());
  for (const auto& e : std::filesystem::recursive_directory_iterator(kumod_.state_dir())) {
    check(e.path());
  }
  EXPECT_TRUE(loose.empty()) << ::testing::PrintToString(loose);
  for (const char* file : {"kumod.db-wal", "servers/cli/disk.qcow2", "servers/cli/console.log"}) {
    EXPECT_TRUE(std::filesystem::exists(kumod_.state_dir() + "/" + file)) << file;
  }
  EXPECT_GT(seen, 10u);

  // Errors come with a hint and an exit code scripts can rely on.
  EXPECT_EQ(kumod_.RunCli({"create", "cli"}, &out), 5) << out;  // name taken: conflict
  EXPECT_NE(out.find("hint:"), std::string::npos) << out;
  EXPECT_EQ(kumod_.RunCli({"show", "ghost"}, &out), 4) << out;  // not found

  ASSERT_EQ(kumod_.RunCli({"stop", "cli", "--force", "--wait"}, &out), 0) << out;
  EXPECT_EQ(kumod_.Server("cli")["status"], "stopped");
  ASSERT_EQ(kumod_.RunCli({"--json", "events", "cli"}, &out), 0) << out;
  EXPECT_NE(out.find("guest agent answering"), std::string::npos) << out;
}

TEST_F(Kumod, AgentHangTurnsWarningGracefulStopRefusedForceStopWorks) {
  CreateRunning("hang");

  // The agent freezes (SIGSTOP from a helper it started).
  auto exec =
      kumod_.Exec("hang", {"/bin/sh", "-c", "(sleep 1; kill -STOP $PPID) >/dev/null 2>&1 &"});
  ASSERT_EQ(exec.status, 200) << exec.body;
  auto frozen_at = Clock::now() + 1s;
  json s = kumod_.WaitStatus("hang", "warning", 10);
  ASSERT_EQ(s["status"], "warning") << s.dump();
  std::cout << "warning " << Since(frozen_at) << " s after the agent froze\n";
  EXPECT_LT(Since(frozen_at), 3.5);
  EXPECT_NE(s["status_reason"].get<std::string>().find("guest agent not responding since"),
            std::string::npos)
      << s.dump();
  EXPECT_EQ(s["power"], "running");

  // A graceful stop cannot work: refused at once, with the way out.
  auto before = kumod_.Server("hang");
  auto stop = kumod_.Call("POST", "/v1/servers/hang/actions", {{"action", "stop"}});
  EXPECT_EQ(stop.status, 409) << stop.body;
  json error = stop.json()["error"];
  EXPECT_EQ(error["code"], "GuestAgentNotResponding");
  EXPECT_NE(error["message"].get<std::string>().find("cannot be asked to shut down"),
            std::string::npos);
  EXPECT_NE(error["hint"].get<std::string>().find("--force"), std::string::npos);
  EXPECT_NE(error["hint"].get<std::string>().find("console"), std::string::npos);
  auto after = kumod_.Server("hang");
  EXPECT_EQ(after["task"], "none");
  EXPECT_EQ(after["status"], "warning");
  EXPECT_EQ(after["qemu_pid"], before["qemu_pid"]) << "the server was touched";

  // Force stop always works, fast.
  auto force_at = Clock::now();
  auto force =
      kumod_.Call("POST", "/v1/servers/hang/actions", {{"action", "stop"}, {"force", true}});
  EXPECT_EQ(force.status, 202) << force.body;
  s = kumod_.WaitStatus("hang", "stopped", 10);
  double took = Since(force_at);
  std::cout << "force stop took " << took << " s\n";
  EXPECT_EQ(s["status"], "stopped");
  EXPECT_LT(took, 1.0);
  EXPECT_EQ(s["power"], "off");

  // It starts again and comes back to running.
  auto start = kumod_.Call("POST", "/v1/servers/hang/actions", {{"action", "start"}});
  EXPECT_EQ(start.status, 202) << start.body;
  EXPECT_EQ(start.json()["status"], "pending");
  s = kumod_.WaitStatus("hang", "running", kBootTimeout);
  EXPECT_EQ(s["status"], "running") << s.dump();

  // Another run: the agent freezes for a while, then recovers on its own.
  exec = kumod_.Exec("hang",
                     {"/bin/sh", "-c",
                      "(sleep 1; kill -STOP $PPID; sleep 5; kill -CONT $PPID) >/dev/null 2>&1 &"});
  ASSERT_EQ(exec.status, 200) << exec.body;
  s = kumod_.WaitStatus("hang", "warning", 10);
  EXPECT_EQ(s["status"], "warning") << s.dump();
  s = kumod_.WaitStatus("hang", "running", 20);
  EXPECT_EQ(s["status"], "running") << s.dump();
  EXPECT_TRUE(kumod_.HasEvent("hang", "guest agent answering again"));
  EXPECT_TRUE(kumod_.HasEvent("hang", "guest agent not responding since"));
}

// busybox init respawns a killed agent within about a second, inside one
// heartbeat: the timeline must still say it happened, with both pids.
TEST_F(Kumod, AnAgentKilledAndRespawnedInTheGuestLeavesATrace) {
  CreateRunning("respawn");
  auto pid_of_agent = [&] {
    auto r = kumod_.Exec("respawn", {"/bin/pidof", "kumo-agent"});
    return r.status == 200 ? r.json()["stdout"].get<std::string>() : std::string();
  };
  std::string before = pid_of_agent();
  ASSERT_FALSE(before.empty());
  before.erase(before.find_last_not_of("\n ") + 1);
  kumod_.Exec("respawn", {"/bin/sh", "-c", "kill -9 " + before});  // its answer dies with it
  bool traced = false;
  for (int i = 0; i < 100 && !traced; ++i) {
    std::this_thread::sleep_for(200ms);
    traced =
        kumod_.HasEvent("respawn", "guest agent restarted in the guest (pid " + before + " → ");
  }
  EXPECT_TRUE(traced) << kumod_.Events("respawn").dump(1);
  EXPECT_EQ(kumod_.WaitStatus("respawn", "running", 20)["status"], "running");
}

TEST_F(Kumod, GuestKernelPanicIsAnError) {
  CreateRunning("panic");
  auto exec = kumod_.Exec(
      "panic", {"/bin/sh", "-c", "(sleep 1; echo c > /proc/sysrq-trigger) >/dev/null 2>&1 &"});
  ASSERT_EQ(exec.status, 200) << exec.body;
  json s = kumod_.WaitStatus("panic", "error", 30);
  ASSERT_EQ(s["status"], "error") << s.dump();
  EXPECT_NE(s["status_reason"].get<std::string>().find("guest kernel panicked"), std::string::npos)
      << s.dump();
  EXPECT_TRUE(kumod_.HasEvent("panic", "guest kernel panicked"));
  // The way out still works.
  auto force =
      kumod_.Call("POST", "/v1/servers/panic/actions", {{"action", "stop"}, {"force", true}});
  EXPECT_EQ(force.status, 202) << force.body;
  EXPECT_EQ(kumod_.WaitStatus("panic", "stopped", 10)["status"], "stopped");
}

TEST_F(Kumod, GracefulStopAndRebootThroughTheAgent) {
  CreateRunning("grace");
  auto reboot = kumod_.Call("POST", "/v1/servers/grace/actions", {{"action", "reboot"}});
  EXPECT_EQ(reboot.status, 202) << reboot.body;
  EXPECT_EQ(reboot.json()["task"], "rebooting");
  // Busy while the reboot runs.
  auto busy = kumod_.Call("POST", "/v1/servers/grace/actions", {{"action", "reboot"}});
  EXPECT_EQ(busy.status, 409);
  EXPECT_EQ(busy.json()["error"]["code"], "ServerBusy");
  json s = kumod_.WaitStatus("grace", "running", kBootTimeout);
  EXPECT_EQ(s["task"], "none") << s.dump();
  EXPECT_TRUE(kumod_.HasEvent("grace", "the guest rebooted"));

  auto stop = kumod_.Call("POST", "/v1/servers/grace/actions", {{"action", "stop"}});
  EXPECT_EQ(stop.status, 202) << stop.body;
  s = kumod_.WaitStatus("grace", "stopped", 60);
  EXPECT_EQ(s["status"], "stopped") << s.dump();
  EXPECT_TRUE(kumod_.HasEvent("grace", "the guest powered off"));
}

TEST_F(Kumod, SurvivesKill9WhileServersRunAndWhileAStopIsInFlight) {
  json a = CreateRunning("keep");
  json b = CreateRunning("halt");
  auto uptime = [&](const std::string& name) {
    auto r = kumod_.Exec(name, {"/bin/cat", "/proc/uptime"});
    return r.status == 200 ? std::stod(r.json()["stdout"].get<std::string>()) : -1.0;
  };
  double keep_uptime = uptime("keep");
  ASSERT_GT(keep_uptime, 0);

  kumod_.Kill9();
  std::string err;
  ASSERT_TRUE(kumod_.Start(&err)) << err;
  json keep = kumod_.WaitStatus("keep", "running", 20);
  EXPECT_EQ(keep["status"], "running") << keep.dump();
  EXPECT_EQ(keep["qemu_pid"], a["qemu_pid"]) << "QEMU was restarted";
  EXPECT_EQ(kumod_.WaitStatus("halt", "running", 20)["qemu_pid"], b["qemu_pid"]);

  // A second kumod on the same state directory would take these QEMUs for
  // dead: it refuses at once, naming the one that holds the directory.
  testing::TempDir second_dir;
  testing::ChildProcess second;
  ASSERT_TRUE(second.Start(
      {KUMOD_PATH, "--state-dir", kumod_.state_dir(), "--listen", "127.0.0.1:0", "--accel", "tcg"},
      second_dir / "kumod.log", &err))
      << err;
  int exit_status = second.WaitExit(10s);
  std::string second_log = testing::ReadFile(second_dir / "kumod.log");
  EXPECT_TRUE(WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == 1) << second_log;
  EXPECT_NE(second_log.find("another kumod (pid " + std::to_string(kumod_.pid()) + ")"),
            std::string::npos)
      << second_log;
  EXPECT_EQ(kumod_.Server("keep")["status"], "running");

  // A graceful stop in flight when kumod dies completes, and is seen as such.
  auto stop = kumod_.Call("POST", "/v1/servers/halt/actions", {{"action", "stop"}});
  ASSERT_EQ(stop.status, 202) << stop.body;
  kumod_.Kill9();
  ASSERT_TRUE(kumod_.Start(&err)) << err;
  json halt = kumod_.WaitStatus("halt", "stopped", 60);
  EXPECT_EQ(halt["status"], "stopped") << halt.dump();
  EXPECT_EQ(halt["task"], "none");

  // The other server was never touched: same QEMU, uptime went on.
  keep = kumod_.WaitStatus("keep", "running", 20);
  EXPECT_EQ(keep["qemu_pid"], a["qemu_pid"]);
  EXPECT_GT(uptime("keep"), keep_uptime);
  EXPECT_EQ(kumod_.Call("GET", "/v1/servers").json()["servers"].size(), 2u);
}

TEST_F(Kumod, BadInputIsRefusedAndChangesNothing) {
  // One existing, stopped server makes the duplicate-name case real and
  // gives the store something to keep unchanged.
  ASSERT_EQ(kumod_.Call("POST", "/v1/servers", {{"name", "base"}}).status, 201);
  kumod_.Call("POST", "/v1/servers/base/actions", {{"action", "stop"}, {"force", true}});
  ASSERT_EQ(kumod_.WaitStatus("base", "stopped", 30)["status"], "stopped");

  auto snapshot = [&] {
    return json{{"servers", kumod_.Call("GET", "/v1/servers").json()},
                {"events", kumod_.Events("base")}};
  };
  const json before = snapshot();

  struct Case {
    const char* what;
    std::string method, target, body;
    int status;
    const char* code;
  };
  const std::vector<Case> cases = {
      {"invalid name", "POST", "/v1/servers", R"({"name":"Bad_Name"})", 400, "InvalidArgument"},
      {"name too long", "POST", "/v1/servers", R"({"name":")" + std::string(64, 'a') + "\"}", 400,
       "InvalidArgument"},
      {"duplicate name", "POST", "/v1/servers", R"({"name":"base"})", 409, "AlreadyExists"},
      {"unknown image", "POST", "/v1/servers", R"({"name":"x1","image":"nope"})", 404, "NotFound"},
      {"zero vcpus", "POST", "/v1/servers", R"({"name":"x2","vcpus":0})", 400, "InvalidArgument"},
      {"tiny memory", "POST", "/v1/servers", R"({"name":"x3","memory_mib":8})", 400,
       "InvalidArgument"},
      {"huge disk", "POST", "/v1/servers", R"({"name":"x4","disk_gib":99999})", 400,
       "InvalidArgument"},
      {"wrong type", "POST", "/v1/servers", R"({"name":"x5","vcpus":"two"})", 400,
       "InvalidArgument"},
      {"malformed JSON", "POST", "/v1/servers", R"({"name":)", 400, "InvalidArgument"},
      {"not an object", "POST", "/v1/servers", R"(["x6"])", 400, "InvalidArgument"},
      {"unknown field", "POST", "/v1/servers", R"({"name":"x7","colour":"red"})", 400,
       "InvalidArgument"},
      {"missing name", "POST", "/v1/servers", R"({"vcpus":1})", 400, "InvalidArgument"},
      {"user data over 64 KiB", "POST", "/v1/servers",
       json({{"name", "x8"}, {"user_data", std::string(64 * 1024 + 1, 'u')}}).dump(), 400,
       "InvalidArgument"},
      {"body over the limit", "POST", "/v1/servers",
       json({{"name", "x9"}, {"user_data", std::string(300 * 1024, 'u')}}).dump(), 413,
       "PayloadTooLarge"},
      {"unknown action", "POST", "/v1/servers/base/actions", R"({"action":"explode"})", 400,
       "InvalidArgument"},
      {"unknown action field", "POST", "/v1/servers/base/actions", R"({"action":"start","now":1})",
       400, "InvalidArgument"},
      {"action on unknown server", "POST", "/v1/servers/ghost/actions", R"({"action":"start"})",
       404, "NotFound"},
      {"stop a stopped server", "POST", "/v1/servers/base/actions", R"({"action":"stop"})", 409,
       "InvalidState"},
      {"bad events limit", "GET", "/v1/servers/base/events?limit=0", "", 400, "InvalidArgument"},
      {"bad force flag", "DELETE", "/v1/servers/base?force=maybe", "", 400, "InvalidArgument"},
      {"unknown endpoint", "GET", "/v1/nothing", "", 404, "NotFound"},
      {"wrong method", "PUT", "/v1/servers", "{}", 405, "MethodNotAllowed"},
  };
  for (const auto& c : cases) {
    auto r = kumod_.CallRaw(c.method, c.target, c.body);
    EXPECT_EQ(r.status, c.status) << c.what << ": " << r.body;
    json j = r.json();
    EXPECT_EQ(j["error"]["code"], c.code) << c.what << ": " << r.body;
    EXPECT_FALSE(j["error"]["message"].get<std::string>().empty()) << c.what;
  }
  // Without the token, or with a wrong one: 401 (and /healthz needs none).
  EXPECT_EQ(testing::HttpRequest(kumod_.port(), "GET", "/v1/servers", "").status, 401);
  EXPECT_EQ(testing::HttpRequest(kumod_.port(), "DELETE", "/v1/servers/base", "wrong").status, 401);
  EXPECT_EQ(testing::HttpRequest(kumod_.port(), "GET", "/healthz", "").status, 200);

  EXPECT_EQ(snapshot(), before) << "a refused request changed the store";
}

}  // namespace
}  // namespace kumo
