#include "agent/cloud_init_status.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <iterator>
#include <vector>

namespace kumo::agent {
namespace {

constexpr size_t kMaxStateFileBytes = 1024 * 1024;
constexpr size_t kMaxIdFileBytes = 4096;
constexpr size_t kMaxIdBytes = 256;
// Later than any real clock (year 5138): a larger number is not a time, and
// would overflow the conversion to whole seconds.
constexpr double kMaxTime = 1e11;

// The stages cloud-init 22.4 lists in status.json, in the order a boot runs
// them (Debian's units never run modules-init; it is listed, never started).
constexpr const char* kStages[] = {"init-local", "init", "modules-init", "modules-config",
                                   "modules-final"};

struct Stage {
  std::string name;
  std::optional<int64_t> start, finished;
  json errors = json::array();  // strings
};

// A time in status.json: float seconds since the epoch, or null.
bool ReadTime(const json& v, std::optional<int64_t>* t) {
  if (v.is_null()) return true;
  if (!v.is_number()) return false;
  double seconds = v.get<double>();
  if (!std::isfinite(seconds) || seconds < 0 || seconds > kMaxTime) return false;
  *t = static_cast<int64_t>(seconds);
  return true;
}

bool ReadErrors(const json& v, json* errors) {
  if (!v.is_array()) return false;
  for (const auto& e : v) {
    if (!e.is_string()) return false;
  }
  *errors = v;
  return true;
}

// One stage's entry; absent or null means it has not started. *err names the
// field that is malformed.
bool ReadStage(const json& v1, const char* name, Stage* stage, std::string* err) {
  stage->name = name;
  auto it = v1.find(name);
  if (it == v1.end() || it->is_null()) return true;
  const json& s = *it;
  auto fail = [&](const char* field) {
    *err = std::string(name) + (*field ? "." : "") + field;
    return false;
  };
  if (!s.is_object()) return fail("");
  if (!ReadTime(s.value("start", json()), &stage->start)) return fail("start");
  if (!ReadTime(s.value("finished", json()), &stage->finished)) return fail("finished");
  if (s.contains("errors") && !ReadErrors(s["errors"], &stage->errors)) return fail("errors");
  return true;
}

std::string StepName(const Stage& stage) { return "cloud-init " + stage.name; }

json StepRecord(const Stage& stage) {
  return {{"step", StepName(stage)},
          {"exit_code", stage.errors.empty() ? 0 : 1},
          {"started", *stage.start},
          {"ended", *stage.finished}};
}

// The stage under way: the one status.json names, once it has started and
// while it has not finished.
json RunningRecord(const json& v1, const std::vector<Stage>& stages) {
  auto stage = v1.find("stage");
  if (stage == v1.end() || !stage->is_string()) return nullptr;
  for (const auto& s : stages) {
    if (s.name == *stage && s.start && !s.finished) {
      return {{"step", StepName(s)}, {"started", *s.start}};
    }
  }
  return nullptr;
}

// Printable ASCII without spaces, as cloud-init's datasources name instances;
// anything else reads as unknown.
std::optional<std::string> CleanId(const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  std::string id = *text;
  while (!id.empty() && (id.back() == '\n' || id.back() == '\r' || id.back() == ' ')) id.pop_back();
  if (id.empty() || id.size() > kMaxIdBytes) return std::nullopt;
  for (char c : id) {
    if (c <= 0x20 || c >= 0x7f) return std::nullopt;
  }
  return id;
}

bool CheckResultJson(const std::optional<std::string>& text, std::string* err) {
  if (!text) return true;
  json r = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (r.is_object() && r.contains("v1") && r["v1"].is_object()) return true;
  *err = "cloud-init's result.json is malformed: no \"v1\" object";
  return false;
}

// The record init_status.h's ComposeInitReply takes, from the stages read.
json Record(const json& v1, const std::vector<Stage>& stages, const CloudInitFacts& facts) {
  std::optional<std::string> id = CleanId(facts.instance_id);
  std::optional<std::string> previous = CleanId(facts.previous_instance_id);
  json steps = json::array();
  std::optional<int64_t> started, ended;
  for (const auto& s : stages) {
    if (!s.start) continue;
    started = started ? std::min(*started, *s.start) : *s.start;
    if (!s.finished) continue;
    steps.push_back(StepRecord(s));
    ended = ended ? std::max(*ended, *s.finished) : *s.finished;
  }
  const bool finished = facts.result_json.has_value();
  return {{"instance_id", id ? json(*id) : json()},
          {"seed", true},
          {"boot_id", facts.boot_id},
          // cloud-init notes the instance it saw before this boot's in
          // previous-instance-id ("NO_PREVIOUS_INSTANCE_ID" on the very first).
          {"first_boot", id && previous && *id != *previous},
          {"finished", finished},
          {"started", started.value_or(0)},
          {"ended", finished && ended ? json(*ended) : json()},
          {"running", RunningRecord(v1, stages)},
          {"steps", std::move(steps)}};
}

// One error a line, so kumod can count them: an exception's text may span lines.
std::string OneLine(std::string error) {
  std::replace(error.begin(), error.end(), '\n', ' ');
  return error;
}

// A step's output: its stage's errors, one a line.
OutputTailReader ErrorsReader(const std::vector<Stage>& stages) {
  return [&stages](const std::string& step, size_t max_bytes, bool* truncated) {
    std::string text;
    for (const auto& s : stages) {
      if (StepName(s) != step) continue;
      for (const auto& e : s.errors) text += OneLine(e.get<std::string>()) + "\n";
    }
    *truncated = text.size() > max_bytes;
    return *truncated ? text.substr(text.size() - max_bytes) : text;
  };
}

// One of cloud-init's JSON files (`name` in RUN_DIR): nullopt if absent, an
// error if larger than 1 MiB or unreadable.
bool ReadStateFile(const std::string& run_dir, const char* name, std::optional<std::string>* text,
                   std::string* err) {
  const std::string path = run_dir + "/" + name;
  bool too_large = false;
  *text = ReadFileTail(path, kMaxStateFileBytes, &too_large, Symlinks::kFollow);
  if (!*text && errno != ENOENT) {
    *err = "cannot read " + path + ": " + std::strerror(errno);
    return false;
  }
  if (too_large) {
    *err = std::string("cloud-init's ") + name + " is malformed: larger than 1 MiB";
    return false;
  }
  return true;
}

// An instance id file; nullopt if it cannot be read or is too large to be one.
std::optional<std::string> ReadIdFile(const std::string& path) {
  bool too_large = false;
  auto text = ReadFileTail(path, kMaxIdFileBytes, &too_large);
  if (too_large) return std::nullopt;
  return text;
}

// Through links: status.json is one (into /var/lib/cloud/data).
bool Exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

// The kernel's id of this boot, as kumo-init records it; "" if unreadable.
std::string BootId(const std::string& path) {
  bool truncated = false;
  std::string id = ReadFileTail(path, 64, &truncated).value_or("");
  while (!id.empty() && id.back() == '\n') id.pop_back();
  bool ok = !truncated && id.find_first_not_of("0123456789abcdef-") == std::string::npos;
  return ok ? id : "";
}

}  // namespace

bool ComposeCloudInitStatus(std::string_view status_json, const CloudInitFacts& facts, size_t limit,
                            json* out, std::string* err) {
  json status = json::parse(status_json, nullptr, /*allow_exceptions=*/false);
  if (status.is_discarded()) {
    *err = "cloud-init's status.json is malformed: not valid JSON";
    return false;
  }
  if (!status.is_object() || !status.contains("v1") || !status["v1"].is_object()) {
    *err = "cloud-init's status.json is malformed: no \"v1\" object";
    return false;
  }
  const json& v1 = status["v1"];
  std::vector<Stage> stages(std::size(kStages));
  for (size_t i = 0; i < stages.size(); ++i) {
    std::string field;
    if (!ReadStage(v1, kStages[i], &stages[i], &field)) {
      *err = "cloud-init's status.json is malformed: " + field;
      return false;
    }
  }
  bool any_started = false;
  for (const auto& s : stages) any_started |= s.start.has_value();
  if (!any_started) {
    *err = "cloud-init's status.json is malformed: no stage has started";
    return false;
  }
  if (!CheckResultJson(facts.result_json, err)) return false;
  *out = ComposeInitReply(Record(v1, stages, facts), ErrorsReader(stages), limit);
  return true;
}

json ComposeCloudInitNotStarted(const CloudInitFacts& facts) {
  const std::vector<Stage> none;
  return ComposeInitReply(Record(json::object(), none, facts), ErrorsReader(none),
                          kInitStatusMaxBytes);
}

bool ReadCloudInitStatus(const CloudInitPaths& paths, json* out, std::string* err) {
  std::optional<std::string> status;
  CloudInitFacts facts;
  if (!ReadStateFile(paths.run_dir, "status.json", &status, err) ||
      !ReadStateFile(paths.run_dir, "result.json", &facts.result_json, err)) {
    return false;
  }
  const bool enabled = Exists(paths.run_dir + "/enabled");
  if (!status && !enabled) {
    *err = "cloud-init has recorded nothing: " + paths.run_dir + "/status.json does not exist";
    return false;
  }
  facts.instance_id = ReadIdFile(paths.data_dir + "/instance-id");
  facts.previous_instance_id = ReadIdFile(paths.data_dir + "/previous-instance-id");
  facts.boot_id = BootId(paths.boot_id_file);
  if (!status) {
    *out = ComposeCloudInitNotStarted(facts);
    return true;
  }
  return ComposeCloudInitStatus(*status, facts, kInitStatusMaxBytes, out, err);
}

bool CloudInitRunsThisBoot(const CloudInitPaths& paths) {
  return Exists(paths.run_dir + "/status.json") || Exists(paths.run_dir + "/enabled");
}

}  // namespace kumo::agent
