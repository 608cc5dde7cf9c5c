// The words of a server's state (DESIGN.md, "Server status"), as types: the
// facts kumo keeps (power, agent, task, boot mode) and the status shown.
// Every part speaks these enums; the strings are for the API and the store's
// columns only (ToString / Parse*).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace kumo {

enum class Power { kOff, kRunning, kPaused, kCrashed };
// kNone: the server's image runs no guest agent (agent_kind none), so
// nothing in the guest can say it is alive: liveness is unknown.
enum class AgentState { kUnknown, kOk, kUnresponsive, kNone };
enum class Task { kNone, kCreating, kStarting, kStopping, kRebooting, kRescuing, kDeleting };
enum class BootMode { kNormal, kRescue };
enum class ServerStatus { kPending, kRunning, kWarning, kStopped, kError };

std::string_view ToString(Power p);
std::string_view ToString(AgentState a);
std::string_view ToString(Task t);
std::string_view ToString(BootMode m);
std::string_view ToString(ServerStatus s);
std::optional<Power> ParsePower(std::string_view s);
std::optional<AgentState> ParseAgentState(std::string_view s);
std::optional<Task> ParseTask(std::string_view s);
std::optional<BootMode> ParseBootMode(std::string_view s);
std::optional<ServerStatus> ParseStatus(std::string_view s);

}  // namespace kumo
