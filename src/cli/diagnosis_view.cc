#include "cli/diagnosis_view.h"

#include <ctime>
#include <sstream>

namespace kumo::cli {
namespace {

using json = nlohmann::json;

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string Clock(const json& ms) {
  if (!ms.is_number_integer()) return "        ";
  std::time_t t = static_cast<std::time_t>(ms.get<int64_t>() / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

std::string Upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string CommandForAction(const std::string& action, const std::string& server) {
  if (action == "console") return "kumo console " + server;
  if (action == "force_stop") return "kumo stop --force " + server;
  if (action == "stop") return "kumo stop " + server;
  if (action == "reboot") return "kumo reboot " + server;
  if (action == "force_reboot") return "kumo reboot --force " + server;
  if (action == "rescue") return "kumo rescue " + server;
  if (action == "exec") return "kumo exec " + server + " -- ...";
  if (action == "start") return "kumo start " + server;
  return action;
}

std::string DiagnosisText(const json& d) {
  std::ostringstream out;
  std::string server = Str(d, "server");
  const json empty = json::array();
  const json& findings = d.contains("findings") && d["findings"].is_array() ? d["findings"] : empty;
  const json& checks = d.contains("checks") && d["checks"].is_array() ? d["checks"] : empty;
  out << server << ": " << Str(d, "status");
  if (findings.empty()) {
    out << " — nothing found\n";
  } else {
    out << " — " << findings.size() << (findings.size() == 1 ? " finding" : " findings")
        << ", most likely cause first\n";
  }
  for (const auto& f : findings) {
    if (!f.is_object()) continue;
    out << "\n" << Upper(Str(f, "severity")) << "  " << Str(f, "code");
    if (f.contains("since") && f["since"].is_number_integer())
      out << "  since " << Clock(f["since"]) << " UTC";
    out << "\n  " << Str(f, "summary") << "\n";
    if (f.contains("evidence") && f["evidence"].is_array() && !f["evidence"].empty()) {
      out << "  evidence:\n";
      for (const auto& e : f["evidence"]) {
        if (!e.is_object()) continue;
        std::string source = Str(e, "source");
        source.resize(8, ' ');
        out << "    " << Clock(e.value("time", json())) << "  " << source << Str(e, "text") << "\n";
      }
    }
    if (f.contains("actions") && f["actions"].is_array() && !f["actions"].empty()) {
      out << "  what to do:\n";
      for (const auto& a : f["actions"]) {
        if (!a.is_object()) continue;
        std::string command = CommandForAction(Str(a, "action"), server);
        if (command.size() < 28) command.resize(28, ' ');
        out << "    " << command << "  " << Str(a, "why") << "\n";
      }
    }
  }
  out << "\nchecked:\n";
  for (const auto& c : checks) {
    if (!c.is_object()) continue;
    std::string code = Str(c, "code");
    if (code.size() < 19) code.resize(19, ' ');
    std::string state = Str(c, "state");
    if (state.size() < 8) state.resize(8, ' ');
    out << "  " << code << state << Str(c, "detail") << "\n";
  }
  return out.str();
}

}  // namespace kumo::cli
