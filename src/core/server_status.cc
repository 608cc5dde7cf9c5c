#include "core/server_status.h"

namespace kumo::core {
ServerStatus DeriveStatus(const Facts& f) {
  if (f.task != Task::kNone)
    return f.task_overdue ? ServerStatus::kWarning : ServerStatus::kPending;
  switch (f.power) {
    case Power::kCrashed:
      return ServerStatus::kError;
    case Power::kOff:
      return ServerStatus::kStopped;
    case Power::kPaused:
      return ServerStatus::kWarning;
    case Power::kRunning:
      break;
  }
  switch (f.agent) {
    case AgentState::kOk:
      return ServerStatus::kRunning;
    case AgentState::kNone:
      return ServerStatus::kRunning;  // as far as QEMU can tell: no agent says more
    case AgentState::kUnresponsive:
      return ServerStatus::kWarning;
    case AgentState::kUnknown:
      return ServerStatus::kPending;  // booting: the agent has not answered yet
  }
  return ServerStatus::kError;
}

}  // namespace kumo::core
