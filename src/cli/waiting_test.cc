#include "cli/waiting.h"

#include <gtest/gtest.h>

namespace kumo::cli {
namespace {

json S(const char* status, const char* task) { return {{"status", status}, {"task", task}}; }

TEST(JudgeAfterAction, Table) {
  struct Case {
    const char* status;
    const char* task;
    const char* want;
    Progress expected;
  };
  const Case cases[] = {
      {"pending", "starting", "running", Progress::kWaiting},
      {"running", "none", "running", Progress::kReached},
      {"running", "rebooting", "running", Progress::kWaiting},  // not yet idle
      {"warning", "none", "running", Progress::kFailed},        // agent stopped answering
      {"warning", "starting", "running", Progress::kFailed},    // start overran its deadline
      {"error", "none", "running", Progress::kFailed},          // QEMU died, start failed
      {"stopped", "none", "running", Progress::kFailed},        // the start ended, not running
      {"pending", "none", "running", Progress::kWaiting},       // booting: agent not yet seen
      {"pending", "stopping", "stopped", Progress::kWaiting},
      {"stopped", "none", "stopped", Progress::kReached},
      {"error", "none", "stopped", Progress::kFailed},
      {"warning", "stopping", "stopped", Progress::kFailed},
      {"running", "none", "stopped", Progress::kFailed},  // the guest refused to shut down
      {"pending", "none", "stopped", Progress::kWaiting},
      {"error", "none", "error", Progress::kReached},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.status) + "/" + c.task + " want " + c.want);
    EXPECT_EQ(JudgeAfterAction(S(c.status, c.task), c.want), c.expected);
  }
  EXPECT_EQ(JudgeAfterAction(json::object(), "running"), Progress::kWaiting);
  EXPECT_EQ(JudgeAfterAction({{"status", "running"}}, "running"), Progress::kReached);
}

TEST(JudgeStatus, MatchesOnlyTheStatus) {
  EXPECT_EQ(JudgeStatus(S("warning", "none"), "warning"), Progress::kReached);
  EXPECT_EQ(JudgeStatus(S("pending", "rebooting"), "pending"), Progress::kReached);
  EXPECT_EQ(JudgeStatus(S("error", "none"), "running"), Progress::kWaiting);
  EXPECT_EQ(JudgeStatus(S("running", "none"), "stopped"), Progress::kWaiting);
}

}  // namespace
}  // namespace kumo::cli
