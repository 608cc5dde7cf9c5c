// A server's facts and the status shown for them (DESIGN.md, "Server
// status"). The status is a pure function of the facts; every decision about
// what an operator sees goes through DeriveStatus.
#pragma once

#include "model/server_state.h"

namespace kumo::core {

struct Facts {
  Power power = Power::kOff;
  AgentState agent = AgentState::kUnknown;
  Task task = Task::kNone;
  bool task_overdue = false;  // the task ran past its deadline ("stuck")
};

ServerStatus DeriveStatus(const Facts& facts);

}  // namespace kumo::core
