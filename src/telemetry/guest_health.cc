#include "telemetry/guest_health.h"

#include <algorithm>
#include <cmath>

#include "telemetry/guest_text.h"

namespace kumo::telemetry {
namespace {

using nlohmann::json;

constexpr int64_t kMaxPid = 4194304;                // Linux's PID_MAX_LIMIT
constexpr int64_t kMaxKib = 1'000'000'000'000'000;  // 1 EiB: no guest has more memory or disk
constexpr double kMaxLoad = 1e6;                    // far above any real run queue
constexpr double kMaxUptime = 1e10;                 // ~300 years
constexpr double kMaxWallSeconds = 1e11;            // ~year 5000; keeps time * 1000 in range
constexpr int64_t kMaxProcesses = 1 << 24;
constexpr double kMaxKibFloat = static_cast<double>(kMaxKib);

const json* Member(const json& parent, const char* key) {
  if (!parent.is_object()) return nullptr;
  auto it = parent.find(key);
  return it == parent.end() ? nullptr : &*it;
}

// A finite number within [lo, hi].
std::optional<double> Number(const json& parent, const char* key, double lo, double hi) {
  const json* v = Member(parent, key);
  if (!v || !v->is_number()) return std::nullopt;
  double d = v->get<double>();
  if (!std::isfinite(d) || d < lo || d > hi) return std::nullopt;
  return d;
}

// An integer (or an integral float) within [lo, hi].
std::optional<int64_t> Integer(const json& parent, const char* key, int64_t lo, int64_t hi) {
  const json* v = Member(parent, key);
  if (!v) return std::nullopt;
  if (v->is_number_unsigned()) {
    uint64_t u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(hi)) return std::nullopt;
    int64_t i = static_cast<int64_t>(u);
    return i >= lo ? std::optional<int64_t>(i) : std::nullopt;
  }
  if (v->is_number_integer()) {
    int64_t i = v->get<int64_t>();
    return i >= lo && i <= hi ? std::optional<int64_t>(i) : std::nullopt;
  }
  if (v->is_number_float()) {
    double d = v->get<double>();
    if (!std::isfinite(d) || d != std::floor(d) || d < static_cast<double>(lo) ||
        d > static_cast<double>(hi)) {
      return std::nullopt;
    }
    return static_cast<int64_t>(d);
  }
  return std::nullopt;
}

std::string Text(const json& parent, const char* key) {
  const json* v = Member(parent, key);
  if (!v || !v->is_string()) return "";
  return BoundedText(v->get_ref<const std::string&>(), kMaxProcessName);
}

const json& Object(const json& parent, const char* key) {
  static const json kNone;
  const json* v = Member(parent, key);
  return v && v->is_object() ? *v : kNone;
}

std::optional<double> PressureAvg10(const json& pressure, const char* resource, const char* kind) {
  return Number(Object(Object(pressure, resource), kind), "avg10", 0, 100);
}

std::optional<OomVictim> ParseVictim(const json& entry) {
  if (!entry.is_object()) return std::nullopt;
  OomVictim v;
  if (auto t = Number(entry, "time", 1, kMaxWallSeconds)) v.time_ms = std::llround(*t * 1000);
  v.pid = Integer(entry, "pid", 1, kMaxPid).value_or(0);
  v.process = Text(entry, "process");
  v.rss_kib = static_cast<uint64_t>(Integer(entry, "rss_kib", 0, kMaxKib).value_or(0));
  return v;
}

// The newest kMaxOomVictims entries (the agent appends), oldest first; any
// number of entries costs only the walk back over the array's tail.
std::vector<OomVictim> ParseVictims(const json& reply) {
  std::vector<OomVictim> out;
  const json* kills = Member(reply, "oom_kills");
  if (!kills || !kills->is_array()) return out;
  for (auto it = kills->rbegin(); it != kills->rend() && out.size() < kMaxOomVictims; ++it) {
    if (auto v = ParseVictim(*it)) out.push_back(std::move(*v));
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace

Result<GuestHealth> ParseGuestHealth(const json& reply) {
  if (!reply.is_object()) {
    return Status(codes::kGuestCommandFailed, "the agent's kumo-health reply is not a JSON object");
  }
  GuestHealth h;
  h.agent_pid = Integer(reply, "agent_pid", 1, kMaxPid).value_or(0);
  h.uptime_s = Number(reply, "uptime_s", 0, kMaxUptime).value_or(-1);
  if (auto t = Number(reply, "time", 1, kMaxWallSeconds)) h.guest_time_ms = std::llround(*t * 1000);

  const json& load = Object(reply, "load");
  h.load1 = Number(load, "1m", 0, kMaxLoad);
  h.load5 = Number(load, "5m", 0, kMaxLoad);
  h.load15 = Number(load, "15m", 0, kMaxLoad);

  const json& memory = Object(reply, "memory");
  h.mem_total_kib = Number(memory, "total_kib", 0, kMaxKibFloat);
  h.mem_available_kib = Number(memory, "available_kib", 0, kMaxKibFloat);

  const json& pressure = Object(reply, "pressure");
  h.psi_cpu_some10 = PressureAvg10(pressure, "cpu", "some");
  h.psi_mem_some10 = PressureAvg10(pressure, "memory", "some");
  h.psi_mem_full10 = PressureAvg10(pressure, "memory", "full");
  h.psi_io_some10 = PressureAvg10(pressure, "io", "some");
  h.psi_io_full10 = PressureAvg10(pressure, "io", "full");

  const json& sshd = Object(reply, "sshd");
  if (const json* running = Member(sshd, "running"); running && running->is_boolean()) {
    h.sshd_running = running->get<bool>();
  }
  h.sshd_pid = Integer(sshd, "pid", 1, kMaxPid).value_or(0);
  h.sshd_program = Text(sshd, "program");
  h.processes = Integer(reply, "processes", 0, kMaxProcesses).value_or(0);

  const json& root = Object(reply, "root_fs");
  h.root_total_kib = Number(root, "total_kib", 0, kMaxKibFloat);
  h.root_used_kib = Number(root, "used_kib", 0, kMaxKibFloat);
  h.root_available_kib = Number(root, "available_kib", 0, kMaxKibFloat);

  h.oom_kills = ParseVictims(reply);
  return h;
}

}  // namespace kumo::telemetry
