// What a diagnosis says about a server: findings (a probable cause or a
// symptom, with the evidence it rests on and the ways out) and checks (every
// rule that ran, found / clear / unknown, so a healthy server shows what was
// looked at). Plain values; the JSON shape is the API's (docs/openapi.json).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace kumo::diagnosis {

enum class Severity { kCritical, kWarning, kInfo };
std::string_view SeverityName(Severity s);

// Where a piece of evidence comes from.
enum class Source { kAgent, kConsole, kHost, kEvent, kProbe };
std::string_view SourceName(Source s);

struct Evidence {
  Source source = Source::kHost;
  int64_t time_ms = 0;  // when it was seen (0: unknown)
  std::string text;
};

// A way out, named as the API's and the CLI's actions are.
struct Action {
  std::string action;  // "console", "force_stop", "reboot", "force_reboot", "rescue", "exec", …
  std::string why;
};

struct Finding {
  std::string code;  // "oom_kill", "kernel_panic", …
  Severity severity = Severity::kWarning;
  std::string summary;  // one line for people
  int64_t since_ms = 0;
  std::vector<Evidence> evidence;
  std::vector<Action> actions;
};

enum class CheckState { kFound, kClear, kUnknown };
std::string_view CheckStateName(CheckState s);

struct Check {
  std::string code;
  CheckState state = CheckState::kUnknown;
  std::string detail;  // what was looked at, or why it could not be
};

struct Diagnosis {
  std::vector<Finding> findings;  // most likely cause first
  std::vector<Check> checks;      // one per rule, in rule order
};

nlohmann::json ToJson(const Finding& f);
nlohmann::json ToJson(const Check& c);

// Bounds on what one finding carries.
inline constexpr size_t kMaxEvidence = 12;

}  // namespace kumo::diagnosis
