#include "hypervisor/spawn.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "support/child_process.h"

namespace kumo::hypervisor {
namespace {

using namespace std::chrono_literals;

constexpr uid_t kNobody = 65534;

// Runs argv to its end (not detached); returns its output file's text.
std::string RunToEnd(const std::vector<std::string>& argv, const std::string& out,
                     const SpawnOptions& options = {}) {
  Result<pid_t> pid = SpawnProcess(argv, out, options);
  EXPECT_TRUE(pid.ok()) << pid.status().ToString();
  if (!pid.ok()) return "";
  int status = 0;
  EXPECT_EQ(waitpid(*pid, &status, 0), *pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  return testing::ReadFile(out);
}

std::string StatusLine(const std::string& status, const std::string& key) {
  std::istringstream in(status);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + ":", 0) != 0) continue;
    size_t start = line.find_first_not_of(" \t", key.size() + 1);
    return start == std::string::npos ? "" : line.substr(start);
  }
  return "<none>";
}

TEST(SpawnProcess, RunAsTakesExactlyThatIdentityBeforeExec) {
  if (geteuid() != 0) GTEST_SKIP() << "changing user needs root";
  testing::TempDir dir;
  ASSERT_EQ(chown(dir.path().c_str(), kNobody, kNobody), 0);
  const std::string out = dir / "out.log";
  SpawnOptions options;
  options.run_as = RunAs{kNobody, kNobody};
  std::string status = RunToEnd({"cat", "/proc/self/status"}, out, options);
  EXPECT_EQ(StatusLine(status, "Uid"), "65534\t65534\t65534\t65534") << status;
  EXPECT_EQ(StatusLine(status, "Gid"), "65534\t65534\t65534\t65534");
  EXPECT_EQ(StatusLine(status, "Groups"), "");
  EXPECT_EQ(StatusLine(status, "NoNewPrivs"), "1");
  EXPECT_EQ(StatusLine(status, "CapEff"), "0000000000000000");
  // Its log is its own, private, opened after the change.
  struct stat st {};
  ASSERT_EQ(stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, kNobody);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST(SpawnProcess, InheritsTheGivenDescriptorsAsThreeOnAndNothingElse) {
  testing::TempDir dir;
  testing::WriteFile(dir / "a", "first\n");
  testing::WriteFile(dir / "b", "second\n");
  int a = open((dir / "a").c_str(), O_RDONLY | O_CLOEXEC);
  int b = open((dir / "b").c_str(), O_RDONLY | O_CLOEXEC);
  int stray = open((dir / "a").c_str(), O_RDONLY);  // not close-on-exec, not given
  SpawnOptions options;
  options.inherit_fds = {b, a};  // the order given, whatever their numbers
  std::string text = RunToEnd({"cat", "/proc/self/fd/3", "/proc/self/fd/4"}, dir / "out", options);
  EXPECT_EQ(text, "second\nfirst\n");
  std::string fds = RunToEnd({"ls", "/proc/self/fd"}, dir / "fds", options);
  // 0-2, the two given, and the directory ls reads: nothing of ours leaked.
  std::istringstream in(fds);
  int count = 0;
  for (std::string fd; in >> fd;) ++count;
  EXPECT_LE(count, 6) << fds;
  close(a);
  close(b);
  close(stray);
}

TEST(SpawnProcess, DetachedProgramIsNotOurChildAndHasItsOwnSession) {
  testing::TempDir dir;
  SpawnOptions options;
  options.detach = true;
  Result<pid_t> pid = SpawnProcess({"sleep", "30"}, dir / "out", options);
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  EXPECT_EQ(waitpid(*pid, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
  EXPECT_NE(getsid(*pid), getsid(0));
  std::string stat = testing::ReadFile("/proc/" + std::to_string(*pid) + "/stat");
  EXPECT_NE(stat.find("(sleep)"), std::string::npos) << stat;
  ASSERT_EQ(kill(*pid, SIGKILL), 0);
}

// kumod's fake driver starts one agent per server: none may outlive kumod,
// even one that runs as another user (which clears the setting if it is
// made before the identity change).
TEST(SpawnProcess, DieWithKumodKillsTheProgramWhenItsStarterEnds) {
  testing::TempDir dir;
  SpawnOptions options;
  options.die_with_kumod = true;
  if (getuid() == 0) options.run_as = RunAs{kNobody, kNobody};
  chmod(dir.path().c_str(), 0777);
  Result<pid_t> pid = Status(codes::kInternal, "not started");
  // The signal comes when the starting thread ends, as kumod's would.
  std::thread starter([&] { pid = SpawnProcess({"sleep", "30"}, dir / "out", options); });
  starter.join();
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  int status = 0;
  ASSERT_EQ(waitpid(*pid, &status, 0), *pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
}

TEST(SpawnProcess, FailuresAreClearErrors) {
  testing::TempDir dir;
  Result<pid_t> missing = SpawnProcess({"/nonexistent/qemu-system-x86_64"}, dir / "out");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), codes::kHypervisorError);
  EXPECT_NE(missing.status().message().find("No such file"), std::string::npos)
      << missing.status().message();
  EXPECT_NE(missing.status().hint().find("installed"), std::string::npos);

  // A symlink where the log goes (the run_dir may belong to QEMU's user) is
  // refused, and its target is untouched.
  testing::WriteFile(dir / "target", "keep\n");
  ASSERT_EQ(symlink((dir / "target").c_str(), (dir / "log").c_str()), 0);
  Result<pid_t> linked = SpawnProcess({"true"}, dir / "log");
  ASSERT_FALSE(linked.ok());
  EXPECT_NE(linked.status().message().find("log file"), std::string::npos)
      << linked.status().message();
  EXPECT_EQ(testing::ReadFile(dir / "target"), "keep\n");
}

}  // namespace
}  // namespace kumo::hypervisor
