// How QMP events become MachineEvents: a pure function, table-tested in
// qmp_event_test.cc.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>

#include "hypervisor/machine.h"

namespace kumo::hypervisor {

// The MachineEvent for a QMP event message ({"event": NAME, "data": {...}}),
// or nullopt for events the server core does not care about.
//   SHUTDOWN       → kShutdown, guest_initiated = data.guest, detail = data.reason
//   RESET          → kReset, likewise
//   GUEST_PANICKED → kPanicked, detail = the action and the panic information
//   STOP / RESUME  → kStopped / kResumed
//   VSERPORT_CHANGE of the agent's port → kAgentChannel, detail "open" | "closed"
std::optional<MachineEvent> MachineEventFromQmp(const nlohmann::json& message);

// The detail of kExited: how the process ended, as far as the driver knows.
//   last_shutdown_reason: the reason of the last SHUTDOWN event, or ""
//   killed: the driver sent SIGKILL
std::string ExitDetail(const std::string& last_shutdown_reason, bool killed);

}  // namespace kumo::hypervisor
