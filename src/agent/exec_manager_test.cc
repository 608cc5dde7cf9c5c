#include "agent/exec_manager.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>

#include <chrono>
#include <fstream>

#include "common/base64.h"

namespace kumo::agent {
namespace {

// Drives the manager the way the agent loop does until `pid` has exited.
nlohmann::json WaitForExit(ExecManager& m, pid_t pid) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    std::vector<pollfd> fds;
    m.PollFds(fds);
    poll(fds.data(), fds.size(), 10);
    for (auto& f : fds) {
      if (f.revents) m.OnReady(f);
    }
    m.ReapChildren();
    auto s = m.Status(pid);
    if (!s) return nullptr;
    if ((*s)["exited"].get<bool>()) return *s;
  }
  return nullptr;
}

TEST(ExecManager, CapturesOutputAndExitCode) {
  ExecManager m;
  std::string err;
  auto pid = m.Start(
      {{"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, std::nullopt, false, true}, "", &err);
  ASSERT_TRUE(pid.has_value()) << err;
  auto s = WaitForExit(m, *pid);
  ASSERT_FALSE(s.is_null());
  EXPECT_EQ(s["exitcode"], 3);
  EXPECT_EQ(*Base64Decode(s["out-data"].get<std::string>()), "out\n");
  EXPECT_EQ(*Base64Decode(s["err-data"].get<std::string>()), "err\n");
  EXPECT_FALSE(m.Status(*pid).has_value()) << "status is handed out once";
}

TEST(ExecManager, FeedsInputAndPassesEnvironment) {
  ExecManager m;
  std::string err;
  auto pid = m.Start({{"/bin/sh", "-c", "cat; echo \"$GREETING\""},
                      std::vector<std::string>{"GREETING=hi"},
                      false,
                      true},
                     "from stdin\n", &err);
  ASSERT_TRUE(pid.has_value()) << err;
  auto s = WaitForExit(m, *pid);
  EXPECT_EQ(*Base64Decode(s["out-data"].get<std::string>()), "from stdin\nhi\n");
}

TEST(ExecManager, ReportsSignalAndTruncatesHugeOutput) {
  ExecManager m;
  std::string err;
  auto pid = m.Start(
      {{"/bin/sh", "-c", "head -c 1000000 /dev/zero; kill -9 $$"}, std::nullopt, false, true}, "",
      &err);
  ASSERT_TRUE(pid.has_value()) << err;
  auto s = WaitForExit(m, *pid);
  EXPECT_EQ(s["signal"], SIGKILL);
  EXPECT_EQ(s["out-truncated"], true);
  EXPECT_EQ(Base64Decode(s["out-data"].get<std::string>())->size(), ExecManager::kMaxCapturedBytes);
}

TEST(ExecManager, MissingProgramIsAnErrorAtStart) {
  ExecManager m;
  std::string err;
  auto pid = m.Start({{"/nonexistent/program"}, std::nullopt, false, false}, "", &err);
  EXPECT_FALSE(pid.has_value());
  EXPECT_NE(err.find("No such file"), std::string::npos) << err;
  EXPECT_EQ(m.tracked(), 0u);
}

TEST(ExecManager, ChildrenAreNotShieldedFromTheOomKiller) {
  // The agent runs with oom_score_adj -1000; a child that inherited it could
  // never be chosen by the OOM killer (the guest would panic instead).
  std::string before = "0";
  {
    std::ifstream in("/proc/self/oom_score_adj");
    in >> before;
  }
  std::ofstream("/proc/self/oom_score_adj") << "-900";
  ExecManager m;
  std::string err;
  auto pid =
      m.Start({{"/bin/cat", "/proc/self/oom_score_adj"}, std::nullopt, false, true}, "", &err);
  std::ofstream("/proc/self/oom_score_adj") << before;
  ASSERT_TRUE(pid.has_value()) << err;
  auto s = WaitForExit(m, *pid);
  EXPECT_EQ(*Base64Decode(s["out-data"].get<std::string>()), "0\n");
}

TEST(ExecManager, WithoutCaptureStatusHasNoOutput) {
  ExecManager m;
  std::string err;
  auto pid = m.Start({{"/bin/true"}, std::nullopt, false, false}, "", &err);
  ASSERT_TRUE(pid.has_value());
  auto s = WaitForExit(m, *pid);
  EXPECT_EQ(s["exitcode"], 0);
  EXPECT_FALSE(s.contains("out-data"));
}

}  // namespace
}  // namespace kumo::agent
