#include "model/server_state.h"

#include <array>
#include <utility>

namespace kumo {
namespace {

template <typename E, size_t N>
using Names = std::array<std::pair<E, std::string_view>, N>;

constexpr Names<Power, 4> kPowerNames = {{{Power::kOff, "off"},
                                          {Power::kRunning, "running"},
                                          {Power::kPaused, "paused"},
                                          {Power::kCrashed, "crashed"}}};
constexpr Names<AgentState, 4> kAgentNames = {{{AgentState::kUnknown, "unknown"},
                                               {AgentState::kOk, "ok"},
                                               {AgentState::kUnresponsive, "unresponsive"},
                                               {AgentState::kNone, "none"}}};
constexpr Names<Task, 7> kTaskNames = {{{Task::kNone, "none"},
                                        {Task::kCreating, "creating"},
                                        {Task::kStarting, "starting"},
                                        {Task::kStopping, "stopping"},
                                        {Task::kRebooting, "rebooting"},
                                        {Task::kRescuing, "rescuing"},
                                        {Task::kDeleting, "deleting"}}};
constexpr Names<BootMode, 2> kBootModeNames = {
    {{BootMode::kNormal, "normal"}, {BootMode::kRescue, "rescue"}}};
constexpr Names<ServerStatus, 5> kStatusNames = {{{ServerStatus::kPending, "pending"},
                                                  {ServerStatus::kRunning, "running"},
                                                  {ServerStatus::kWarning, "warning"},
                                                  {ServerStatus::kStopped, "stopped"},
                                                  {ServerStatus::kError, "error"}}};

template <typename E, size_t N>
std::string_view NameOf(const Names<E, N>& names, E value) {
  for (const auto& [v, name] : names) {
    if (v == value) return name;
  }
  return "?";
}

template <typename E, size_t N>
std::optional<E> ValueOf(const Names<E, N>& names, std::string_view text) {
  for (const auto& [v, name] : names) {
    if (name == text) return v;
  }
  return std::nullopt;
}

}  // namespace

std::string_view ToString(Power p) { return NameOf(kPowerNames, p); }
std::string_view ToString(AgentState a) { return NameOf(kAgentNames, a); }
std::string_view ToString(Task t) { return NameOf(kTaskNames, t); }
std::string_view ToString(BootMode m) { return NameOf(kBootModeNames, m); }
std::string_view ToString(ServerStatus s) { return NameOf(kStatusNames, s); }
std::optional<Power> ParsePower(std::string_view s) { return ValueOf(kPowerNames, s); }
std::optional<AgentState> ParseAgentState(std::string_view s) { return ValueOf(kAgentNames, s); }
std::optional<Task> ParseTask(std::string_view s) { return ValueOf(kTaskNames, s); }
std::optional<BootMode> ParseBootMode(std::string_view s) { return ValueOf(kBootModeNames, s); }
std::optional<ServerStatus> ParseStatus(std::string_view s) { return ValueOf(kStatusNames, s); }

}  // namespace kumo
