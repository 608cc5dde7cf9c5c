#include "agent/init_status.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace kumo::agent {
namespace {

constexpr size_t kMaxResultFileBytes = 1024 * 1024;
// Each step gets this much output at first, then less while the reply is too large.
constexpr size_t kTailBudgets[] = {kInitOutputTailBytes, 1024, 256, 0};

bool IsStepName(const json& v) {
  if (!v.is_string()) return false;
  const std::string& s = v.get_ref<const std::string&>();
  if (s.empty() || s.size() > 32) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

bool IsTime(const json& v) { return v.is_number_integer(); }

// Checks result.json's shape; *err names the first problem.
bool Validate(const json& r, std::string* err) {
  auto fail = [err](const std::string& what) {
    *err = "kumo-init's result.json is malformed: " + what;
    return false;
  };
  if (!r.is_object()) return fail("not a JSON object");
  if (!r.contains("format") || r["format"] != 1) return fail("unknown format (expected 1)");
  if (!r.contains("instance_id") || !(r["instance_id"].is_string() || r["instance_id"].is_null())) {
    return fail("instance_id");
  }
  for (const char* key : {"seed", "first_boot", "finished"}) {
    if (!r.contains(key) || !r[key].is_boolean()) return fail(key);
  }
  if (!r.contains("started") || !IsTime(r["started"])) return fail("started");
  if (!r.contains("ended") || !(IsTime(r["ended"]) || r["ended"].is_null())) return fail("ended");
  if (!r.contains("running")) return fail("running");
  const json& running = r["running"];
  if (!running.is_null() && (!running.is_object() || !IsStepName(running.value("step", json())) ||
                             !IsTime(running.value("started", json())))) {
    return fail("running");
  }
  if (!r.contains("steps") || !r["steps"].is_array()) return fail("steps");
  for (size_t i = 0; i < r["steps"].size(); ++i) {
    const json& s = r["steps"][i];
    bool ok = s.is_object() && IsStepName(s.value("step", json())) &&
              s.value("exit_code", json()).is_number_integer() &&
              IsTime(s.value("started", json())) && IsTime(s.value("ended", json()));
    if (!ok) return fail("steps[" + std::to_string(i) + "]");
  }
  return true;
}

size_t SerializedSize(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace).size();
}

struct Tail {
  std::string text;  // at most kInitOutputTailBytes
  bool truncated = false;
};

Tail ReadTail(const OutputTailReader& read_tail, const std::string& step, size_t max_bytes) {
  Tail t;
  t.text = read_tail(step, max_bytes, &t.truncated);
  return t;
}

json Output(const Tail& tail, size_t budget, json entry) {
  bool cut = tail.text.size() > budget;
  entry["output"] = cut ? tail.text.substr(tail.text.size() - budget) : tail.text;
  entry["output_truncated"] = tail.truncated || cut;
  return entry;
}

json StepEntry(const json& s, const Tail& tail, size_t budget) {
  return Output(tail, budget,
                {{"step", s["step"]},
                 {"exit_code", s["exit_code"]},
                 {"started", s["started"]},
                 {"ended", s["ended"]}});
}

json Reply(const json& r, json running, json ran, size_t omitted) {
  return {{"instance_id", r["instance_id"]},
          {"seed", r["seed"]},
          {"boot_id", r.value("boot_id", "")},
          {"first_boot", r["first_boot"]},
          {"finished", r["finished"]},
          {"started", r["started"]},
          {"ended", r["ended"]},
          {"running", std::move(running)},
          {"ran", std::move(ran)},
          {"steps_omitted", omitted}};
}

}  // namespace

bool ComposeInitStatus(std::string_view result_json, const OutputTailReader& read_tail,
                       size_t limit, json* out, std::string* err) {
  json r = json::parse(result_json, nullptr, /*allow_exceptions=*/false);
  if (r.is_discarded()) {
    *err = "kumo-init's result.json is malformed: not valid JSON";
    return false;
  }
  if (!Validate(r, err)) return false;
  if (r.contains("boot_id") && !r["boot_id"].is_string()) r["boot_id"] = "";
  *out = ComposeInitReply(r, read_tail, limit);
  return true;
}

json ComposeInitReply(const json& r, const OutputTailReader& read_tail, size_t limit) {
  json out;
  const json& steps = r["steps"];
  // With many steps, less of each output is read at all: the agent's memory
  // stays small (about 4 x the limit) whatever the guest recorded.
  const size_t read_bytes = std::min(kInitOutputTailBytes, 4 * limit / (steps.size() + 2));
  std::vector<Tail> tails;
  tails.reserve(steps.size());
  for (const auto& s : steps) tails.push_back(ReadTail(read_tail, s["step"], read_bytes));
  std::optional<Tail> running_tail;
  if (r["running"].is_object()) {
    running_tail = ReadTail(read_tail, r["running"]["step"], read_bytes);
  }

  auto running = [&](size_t budget) -> json {
    if (!running_tail) return nullptr;
    return Output(*running_tail, budget,
                  {{"step", r["running"]["step"]}, {"started", r["running"]["started"]}});
  };
  // Sizes are summed entry by entry and the sum stops at the limit, so the
  // work stays proportional to the limit, not to the outputs.
  auto fits = [&](size_t budget) {
    size_t total = SerializedSize(Reply(r, running(budget), json::array(), 0));
    for (size_t i = 0; i < steps.size() && total <= limit; ++i) {
      total += SerializedSize(StepEntry(steps[i], tails[i], budget)) + 1;
    }
    return total <= limit;
  };
  for (size_t budget : kTailBudgets) {
    if (!fits(budget) && budget != 0) continue;
    json ran = json::array();
    for (size_t i = 0; i < steps.size(); ++i) ran.push_back(StepEntry(steps[i], tails[i], budget));
    out = Reply(r, running(budget), std::move(ran), 0);
    if (budget != 0 || SerializedSize(out) <= limit) return out;
  }
  // Still too large without any output: leave steps out, the oldest
  // successful ones first, then the oldest of the rest. Each entry's size is
  // measured once (plus its comma).
  size_t total = SerializedSize(out) + 8;  // steps_omitted grows from "0" to a few digits
  std::vector<size_t> sizes;
  for (const auto& entry : out["ran"]) sizes.push_back(SerializedSize(entry) + 1);
  std::vector<bool> keep(steps.size(), true);
  for (int pass = 0; pass < 2 && total > limit; ++pass) {
    for (size_t i = 0; i < steps.size() && total > limit; ++i) {
      if (!keep[i] || (pass == 0 && steps[i]["exit_code"] != 0)) continue;
      keep[i] = false;
      total -= sizes[i];
    }
  }
  json ran = json::array();
  size_t omitted = 0;
  for (size_t i = 0; i < steps.size(); ++i) {
    if (keep[i]) {
      ran.push_back(StepEntry(steps[i], tails[i], 0));
    } else {
      ++omitted;
    }
  }
  return Reply(r, running(0), std::move(ran), omitted);
}

std::optional<std::string> ReadFileTail(const std::string& path, size_t max_bytes, bool* truncated,
                                        Symlinks symlinks) {
  *truncated = false;
  int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | (symlinks == Symlinks::kRefuse ? O_NOFOLLOW : 0);
  int fd = open(path.c_str(), flags);
  if (fd < 0) return std::nullopt;
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    errno = EINVAL;
    return std::nullopt;
  }
  off_t start = 0;
  if (static_cast<size_t>(st.st_size) > max_bytes) {
    start = st.st_size - static_cast<off_t>(max_bytes);
    *truncated = true;
  }
  std::string out;
  char buf[4096];
  while (out.size() < max_bytes) {
    ssize_t n = pread(fd, buf, std::min(sizeof buf, max_bytes - out.size()),
                      start + static_cast<off_t>(out.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

bool ReadInitStatus(const std::string& state_dir, json* out, std::string* err) {
  const std::string path = state_dir + "/result.json";
  bool too_large = false;
  auto text = ReadFileTail(path, kMaxResultFileBytes, &too_large);
  if (!text) {
    *err = errno == ENOENT ? "kumo-init has recorded nothing: " + path +
                                 " does not exist (the image does not run kumo-init)"
                           : "cannot read " + path + ": " + std::strerror(errno);
    return false;
  }
  if (too_large) {
    *err = "kumo-init's result.json is malformed: larger than 1 MiB";
    return false;
  }
  OutputTailReader reader = [&state_dir](const std::string& step, size_t max_bytes,
                                         bool* truncated) {
    auto tail = ReadFileTail(state_dir + "/output/" + step + ".log", max_bytes, truncated);
    return tail.value_or("");
  };
  return ComposeInitStatus(*text, reader, kInitStatusMaxBytes, out, err);
}

}  // namespace kumo::agent
