#include "core/server_status.h"

#include <gtest/gtest.h>

namespace kumo::core {
namespace {

struct Row {
  Power power;
  AgentState agent;
  Task task;
  bool overdue;
  ServerStatus expected;
};

// The table in DESIGN.md, "Server status".
const Row kTable[] = {
    // No task: power and agent decide.
    {Power::kOff, AgentState::kUnknown, Task::kNone, false, ServerStatus::kStopped},
    {Power::kOff, AgentState::kUnresponsive, Task::kNone, false, ServerStatus::kStopped},
    {Power::kRunning, AgentState::kOk, Task::kNone, false, ServerStatus::kRunning},
    {Power::kRunning, AgentState::kUnresponsive, Task::kNone, false, ServerStatus::kWarning},
    {Power::kRunning, AgentState::kUnknown, Task::kNone, false, ServerStatus::kPending},  // booting
    // An image without an agent: running as far as QEMU can tell.
    {Power::kRunning, AgentState::kNone, Task::kNone, false, ServerStatus::kRunning},
    {Power::kPaused, AgentState::kNone, Task::kNone, false, ServerStatus::kWarning},
    {Power::kRunning, AgentState::kNone, Task::kStopping, false, ServerStatus::kPending},
    {Power::kPaused, AgentState::kOk, Task::kNone, false, ServerStatus::kWarning},
    {Power::kCrashed, AgentState::kOk, Task::kNone, false, ServerStatus::kError},
    {Power::kCrashed, AgentState::kUnknown, Task::kNone, false, ServerStatus::kError},
    // A task under way is pending, whatever else holds...
    {Power::kRunning, AgentState::kOk, Task::kStopping, false, ServerStatus::kPending},
    {Power::kOff, AgentState::kUnknown, Task::kStarting, false, ServerStatus::kPending},
    {Power::kRunning, AgentState::kUnresponsive, Task::kRebooting, false, ServerStatus::kPending},
    {Power::kCrashed, AgentState::kUnknown, Task::kDeleting, false, ServerStatus::kPending},
    {Power::kOff, AgentState::kUnknown, Task::kCreating, false, ServerStatus::kPending},
    // ...until it overruns its deadline: stuck.
    {Power::kRunning, AgentState::kOk, Task::kStopping, true, ServerStatus::kWarning},
    {Power::kOff, AgentState::kUnknown, Task::kStarting, true, ServerStatus::kWarning},
};

TEST(DeriveStatus, FollowsTheDesignTable) {
  for (const auto& r : kTable) {
    EXPECT_EQ(DeriveStatus({r.power, r.agent, r.task, r.overdue}), r.expected)
        << ToString(r.power) << "/" << ToString(r.agent) << "/" << ToString(r.task)
        << (r.overdue ? "/overdue" : "");
  }
}

TEST(StatusNames, RoundTrip) {
  for (auto s : {ServerStatus::kPending, ServerStatus::kRunning, ServerStatus::kWarning,
                 ServerStatus::kStopped, ServerStatus::kError}) {
    EXPECT_EQ(ParseStatus(ToString(s)), s);
  }
  for (auto t : {Task::kNone, Task::kCreating, Task::kStarting, Task::kStopping, Task::kRebooting,
                 Task::kRescuing, Task::kDeleting}) {
    EXPECT_EQ(ParseTask(ToString(t)), t);
  }
  EXPECT_EQ(ParsePower("crashed"), Power::kCrashed);
  EXPECT_EQ(ParseAgentState("unresponsive"), AgentState::kUnresponsive);
  EXPECT_EQ(ParseAgentState("none"), AgentState::kNone);
  EXPECT_FALSE(ParsePower("bogus").has_value());
}

}  // namespace
}  // namespace kumo::core
