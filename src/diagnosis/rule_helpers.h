// Shared by the rule files (rules_*.cc): building outcomes and words for
// people. Private to src/diagnosis.
#pragma once

#include <string>
#include <vector>

#include "diagnosis/rules.h"

namespace kumo::diagnosis {

inline RuleOutcome Clear(std::string_view code, std::string detail) {
  return {Check{std::string(code), CheckState::kClear, std::move(detail)}, std::nullopt};
}
inline RuleOutcome Unknown(std::string_view code, std::string detail) {
  return {Check{std::string(code), CheckState::kUnknown, std::move(detail)}, std::nullopt};
}
RuleOutcome Found(Finding finding, std::string detail = "");

// The guest runs (power running): rules that read the live guest need it.
bool GuestRunning(const Observation& o);
// The rules that read the console also hold for a guest that died: its
// last boot's lines stay the evidence until the next boot.
bool HasBootToRead(const Observation& o);
// The agent answered during this boot.
bool AgentAnsweredThisBoot(const Observation& o);
// The last health is recent (at most 3 intervals old).
bool HealthIsFresh(const Observation& o);

Evidence ConsoleEvidence(const TimedFact& f);
// Process names (as the kernel has them, at most 15 characters) of the SSH
// server and of the guest agent.
bool IsSshServer(const std::string& process);
bool IsGuestAgent(const std::string& process);
// "35 s", "4 min", "2 h"
std::string Duration(int64_t ms);
// "4 MiB", "190 MiB", "1.5 GiB"
std::string Kib(double kib);
std::string Percent(double value);  // "85%"
// Facts of the given kinds, this boot, oldest first.
std::vector<const TimedFact*> FactsOf(const Observation& o,
                                      std::initializer_list<ConsoleFactKind> kinds);

}  // namespace kumo::diagnosis
