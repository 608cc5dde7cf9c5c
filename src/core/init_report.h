// What a server's timeline says about its user data, from the reply of the
// guest's kumo-init-status (see docs/agent.md): one message per step that
// ran, "init script exited with status 3 (last output: …)", or for a stock
// cloud image's cloud-init one per stage, "cloud-init stage modules-final
// finished with 2 errors (last: …)". Pure; the reply
// comes from the guest and is not trusted: fields of the wrong type read as
// absent, texts are cut short and stripped of control characters, and the
// number of messages is bounded.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace kumo::core {

// Messages one boot's user data may add to the timeline (one more says how
// many were left out).
inline constexpr size_t kMaxInitStepMessages = 64;

struct InitReport {
  bool finished = false;  // kumo-init (or cloud-init) has run every step of this boot
  std::string boot_id;    // which boot it describes
  std::vector<std::string> messages;
};

InitReport ReadInitReport(const nlohmann::json& status);

}  // namespace kumo::core
