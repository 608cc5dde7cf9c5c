#include "diagnosis/finding.h"

namespace kumo::diagnosis {

std::string_view SeverityName(Severity s) {
  switch (s) {
    case Severity::kCritical:
      return "critical";
    case Severity::kWarning:
      return "warning";
    case Severity::kInfo:
      return "info";
  }
  return "info";
}

std::string_view SourceName(Source s) {
  switch (s) {
    case Source::kAgent:
      return "agent";
    case Source::kConsole:
      return "console";
    case Source::kHost:
      return "host";
    case Source::kEvent:
      return "event";
    case Source::kProbe:
      return "probe";
  }
  return "host";
}

std::string_view CheckStateName(CheckState s) {
  switch (s) {
    case CheckState::kFound:
      return "found";
    case CheckState::kClear:
      return "clear";
    case CheckState::kUnknown:
      return "unknown";
  }
  return "unknown";
}

nlohmann::json ToJson(const Finding& f) {
  nlohmann::json evidence = nlohmann::json::array();
  for (const auto& e : f.evidence) {
    evidence.push_back({{"source", SourceName(e.source)},
                        {"time", e.time_ms ? nlohmann::json(e.time_ms) : nlohmann::json()},
                        {"text", e.text}});
  }
  nlohmann::json actions = nlohmann::json::array();
  for (const auto& a : f.actions) actions.push_back({{"action", a.action}, {"why", a.why}});
  return {
      {"code", f.code},       {"severity", SeverityName(f.severity)},
      {"summary", f.summary}, {"since", f.since_ms ? nlohmann::json(f.since_ms) : nlohmann::json()},
      {"evidence", evidence}, {"actions", actions}};
}

nlohmann::json ToJson(const Check& c) {
  return {{"code", c.code}, {"state", CheckStateName(c.state)}, {"detail", c.detail}};
}

}  // namespace kumo::diagnosis
