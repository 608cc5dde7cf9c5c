// End to end: guest isolation on the host (DESIGN.md "Guest isolation"). A
// real kumod, as root, runs each QEMU as the unprivileged user kumo-qemu in a
// strict seccomp sandbox, and the servers still boot, answer their agent,
// stop gracefully and force-stop.
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>

#include "e2e/kumod_harness.h"

namespace kumo {
namespace {

using testing::json;
using testing::KumodHarness;
using namespace std::chrono_literals;

constexpr double kBootTimeout = 180;  // TCG on a loaded 2-core CI machine

// The "Key:\tvalue" lines of /proc/PID/status.
std::map<std::string, std::string> ProcStatus(int64_t pid) {
  std::map<std::string, std::string> fields;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    size_t start = line.find_first_not_of(" \t", colon + 1);
    fields[line.substr(0, colon)] = start == std::string::npos ? "" : line.substr(start);
  }
  return fields;
}

class Isolation : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "kumod runs QEMU as another user only as root";
    struct passwd* pw = getpwnam("kumo-qemu");
    ASSERT_NE(pw, nullptr) << "scripts/install-deps.sh creates the user kumo-qemu";
    qemu_uid_ = pw->pw_uid;
    std::string err;
    ASSERT_TRUE(kumod_.Start(&err)) << err;
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "--- kumod log ---\n" << kumod_.log() << "\n";
  }

  uid_t qemu_uid_ = 0;
  KumodHarness kumod_;
};

TEST_F(Isolation, QemuRunsAsItsOwnUserInAStrictSandbox) {
  EXPECT_NE(kumod_.log().find("QEMU runs as user kumo-qemu"), std::string::npos) << kumod_.log();
  auto r = kumod_.Call("POST", "/v1/servers", {{"name", "jail"}, {"memory_mib", 192}});
  ASSERT_EQ(r.status, 201) << r.body;
  json s = kumod_.WaitStatus("jail", "running", kBootTimeout);
  ASSERT_EQ(s["status"], "running") << s.dump();
  int64_t pid = s["qemu_pid"].get<int64_t>();

  auto status = ProcStatus(pid);
  const std::string uid = std::to_string(qemu_uid_);
  EXPECT_EQ(status["Uid"],
            uid + "\t" + uid + "\t" + uid + "\t" + uid);  // real, effective, saved, fs
  EXPECT_EQ(status["Groups"], "");
  EXPECT_EQ(status["Seccomp"], "2");  // a filter: -sandbox on
  EXPECT_EQ(status["NoNewPrivs"], "1");
  EXPECT_EQ(status["CapEff"], "0000000000000000");

  // Its run directory is its own and private; the state directory lets it
  // through, but not read kumod's files.
  const std::string run_dir = kumod_.state_dir() + "/servers/jail";
  struct stat st {};
  ASSERT_EQ(stat(run_dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, qemu_uid_);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_EQ(stat(kumod_.state_dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0710u);
  ASSERT_EQ(stat((kumod_.state_dir() + "/kumod.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u) << "the database is readable by others";

  // The agent answers through the sockets of the unprivileged QEMU.
  auto exec = kumod_.Exec("jail", {"/bin/cat", "/proc/uptime"});
  EXPECT_EQ(exec.status, 200) << exec.body;

  // Graceful stop, start again (the overlay is reused), force stop.
  auto stop = kumod_.Call("POST", "/v1/servers/jail/actions", {{"action", "stop"}});
  EXPECT_EQ(stop.status, 202) << stop.body;
  EXPECT_EQ(kumod_.WaitStatus("jail", "stopped", 60)["status"], "stopped");
  auto start = kumod_.Call("POST", "/v1/servers/jail/actions", {{"action", "start"}});
  EXPECT_EQ(start.status, 202) << start.body;
  s = kumod_.WaitStatus("jail", "running", kBootTimeout);
  ASSERT_EQ(s["status"], "running") << s.dump();
  pid = s["qemu_pid"].get<int64_t>();
  EXPECT_EQ(ProcStatus(pid)["Uid"].substr(0, uid.size() + 1), uid + "\t");
  auto force =
      kumod_.Call("POST", "/v1/servers/jail/actions", {{"action", "stop"}, {"force", true}});
  EXPECT_EQ(force.status, 202) << force.body;
  EXPECT_EQ(kumod_.WaitStatus("jail", "stopped", 10)["status"], "stopped");
  std::string state = ProcStatus(pid)["State"];  // gone, or a zombie left to init
  EXPECT_TRUE(state.empty() || state[0] == 'Z') << "QEMU still runs after a force stop: " << state;
}

TEST_F(Isolation, KumodRefusesToRunQemuAsRootWhenItsUserIsMissing) {
  testing::TempDir dir;
  testing::ChildProcess second;
  std::string err;
  ASSERT_TRUE(second.Start({KUMOD_PATH, "--state-dir", dir / "state", "--listen", "127.0.0.1:0",
                            "--accel", "tcg", "--qemu-user", "kumo-no-such-user"},
                           dir / "kumod.log", &err))
      << err;
  int exit_status = second.WaitExit(10s);
  std::string log = testing::ReadFile(dir / "kumod.log");
  EXPECT_TRUE(WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == 1) << log;
  EXPECT_NE(log.find("the QEMU user 'kumo-no-such-user' does not exist"), std::string::npos) << log;
  EXPECT_NE(log.find("useradd --system"), std::string::npos) << log;
}

}  // namespace
}  // namespace kumo
