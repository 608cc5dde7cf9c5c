// A server's facts and the status shown for them (DESIGN.md, "Server
// status"). The status is a pure function of the facts; every decision about
// what an operator sees goes through DeriveStatus.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace kumo::core {

enum class Power { kOff, kRunning, kPaused, kCrashed };
enum class AgentState { kUnknown, kOk, kUnresponsive };
enum class Task { kNone, kCreating, kStarting, kStopping, kRebooting, kRescuing, kDeleting };
enum class ServerStatus { kPending, kRunning, kWarning, kStopped, kError };

struct Facts {
  Power power = Power::kOff;
  AgentState agent = AgentState::kUnknown;
  Task task = Task::kNone;
  bool task_overdue = false;  // the task ran past its deadline ("stuck")
};

ServerStatus DeriveStatus(const Facts& facts);

std::string_view ToString(Power p);
std::string_view ToString(AgentState a);
std::string_view ToString(Task t);
std::string_view ToString(ServerStatus s);
std::optional<Power> ParsePower(std::string_view s);
std::optional<AgentState> ParseAgentState(std::string_view s);
std::optional<Task> ParseTask(std::string_view s);
std::optional<ServerStatus> ParseStatus(std::string_view s);

}  // namespace kumo::core
