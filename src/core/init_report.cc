#include "core/init_report.h"

#include <algorithm>
#include <string_view>

namespace kumo::core {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxLastLineBytes = 200;
constexpr size_t kMaxStepNameBytes = 64;

std::string StringField(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

int64_t IntField(const json& j, const char* key, int64_t absent) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : absent;
}

// No terminal escapes or line breaks reach an event.
std::string Printable(std::string text) {
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return text;
}

// The last non-empty line of a step's output, shortened for an event.
std::string LastLine(const std::string& output) {
  size_t end = output.find_last_not_of("\r\n \t");
  if (end == std::string::npos) return "";
  size_t start = output.find_last_of('\n', end);
  start = start == std::string::npos ? 0 : start + 1;
  std::string line = output.substr(start, end + 1 - start);
  if (line.size() > kMaxLastLineBytes) line = line.substr(0, kMaxLastLineBytes) + "…";
  return Printable(line);
}

// How many errors a cloud-init stage's output lists: kumo-agent writes its
// errors one a line.
size_t CountLines(const std::string& output) {
  size_t lines = 0;
  size_t start = 0;
  while (start < output.size()) {
    size_t end = std::min(output.find('\n', start), output.size());
    lines += output.find_first_not_of(" \t\r", start) < end;
    start = end + 1;
  }
  return lines;
}

// A cloud-init stage (kumo-agent on a stock cloud image): it does not exit
// with a status, it records errors.
std::string CloudInitStageMessage(const std::string& stage, const json& step) {
  std::string message = "cloud-init stage " + stage + " finished ";
  if (IntField(step, "exit_code", -1) == 0) return message + "without errors";
  const std::string output = StringField(step, "output");
  const size_t errors = CountLines(output);
  // A cut output holds only the last errors: their number is a lower bound.
  const bool cut = step.value("output_truncated", json()) == true;
  if (errors == 0) return message + "with errors";
  message += "with " + std::string(cut ? "at least " : "") + std::to_string(errors) +
             (errors == 1 ? " error" : " errors");
  return message + " (last: " + LastLine(output) + ")";
}

std::string StepMessage(const json& step) {
  std::string name = StringField(step, "step");
  if (name.empty() || name.size() > kMaxStepNameBytes) name = "?";
  name = Printable(name);
  constexpr std::string_view kCloudInit = "cloud-init ";
  if (name.starts_with(kCloudInit) && name.size() > kCloudInit.size()) {
    return CloudInitStageMessage(name.substr(kCloudInit.size()), step);
  }
  std::string what = name == "script"               ? "init script"
                     : name.rfind("runcmd", 0) == 0 ? "user data " + name
                                                    : "user data step '" + name + "'";
  std::string message =
      what + " exited with status " + std::to_string(IntField(step, "exit_code", -1));
  std::string last = LastLine(StringField(step, "output"));
  if (!last.empty()) message += " (last output: " + last + ")";
  return message;
}

}  // namespace

InitReport ReadInitReport(const json& status) {
  InitReport report;
  if (!status.is_object()) return report;
  auto finished = status.find("finished");
  report.finished = finished != status.end() && *finished == true;
  report.boot_id = StringField(status, "boot_id");
  if (!report.finished) return report;
  auto ran = status.find("ran");
  if (ran != status.end() && ran->is_array()) {
    size_t steps = 0;
    for (const auto& step : *ran) steps += step.is_object();
    for (const auto& step : *ran) {
      if (!step.is_object()) continue;
      if (report.messages.size() == kMaxInitStepMessages) {
        report.messages.push_back("user data ran " + std::to_string(steps) +
                                  " steps; only the first " + std::to_string(kMaxInitStepMessages) +
                                  " are listed");
        break;
      }
      report.messages.push_back(StepMessage(step));
    }
  }
  if (int64_t omitted = IntField(status, "steps_omitted", 0); omitted > 0) {
    report.messages.push_back(std::to_string(omitted) +
                              " earlier user data steps succeeded (not listed)");
  }
  return report;
}

}  // namespace kumo::core
