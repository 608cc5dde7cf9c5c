// Rules about the guest's resources: disk space, memory, CPU — from the
// agent's kumo-health samples and the host's view of QEMU.
#include <algorithm>
#include <cmath>

#include "diagnosis/rule_helpers.h"

namespace kumo::diagnosis {
namespace {

constexpr double kPressureSome = 10;  // % of time some task waited on memory (avg10)
constexpr double kPressureFull = 5;
constexpr double kLowAvailable = 0.10;        // of total
constexpr int64_t kTrendWindowMs = 60000;     // the trend is fitted over this
constexpr int64_t kRunsOutWithinMs = 120000;  // flag a fall that empties memory this soon
constexpr double kBusyShareOfVcpus = 0.80;    // QEMU's host CPU per vCPU that counts as busy
constexpr double kBusyGuestPressure = 50;     // PSI cpu some avg10

bool Known(float v) { return !std::isnan(v); }

std::string MemoryLine(const telemetry::Sample& s) {
  std::string line = "available " + Kib(s.mem_available_kib) + " of " + Kib(s.mem_total_kib);
  if (Known(s.psi_mem_some10))
    line += "; memory pressure " + Percent(s.psi_mem_some10) + " (some, avg10)";
  if (Known(s.psi_mem_full10)) line += ", " + Percent(s.psi_mem_full10) + " (full)";
  return line;
}

// Least-squares slope of available memory (KiB per ms) over the samples of
// the last window; nullopt without enough of them.
std::optional<double> AvailableSlope(const Observation& o, int64_t* first_ms) {
  std::vector<std::pair<double, double>> points;
  for (const auto& s : o.samples) {
    if (s.time_ms >= o.now_ms - kTrendWindowMs && Known(s.mem_available_kib)) {
      points.emplace_back(static_cast<double>(s.time_ms), s.mem_available_kib);
    }
  }
  if (points.size() < 3 || points.back().first - points.front().first < 10000) return std::nullopt;
  double mx = 0, my = 0;
  for (auto [x, y] : points) mx += x, my += y;
  mx /= points.size(), my /= points.size();
  double sxy = 0, sxx = 0;
  for (auto [x, y] : points) sxy += (x - mx) * (y - my), sxx += (x - mx) * (x - mx);
  if (sxx <= 0) return std::nullopt;
  *first_ms = static_cast<int64_t>(points.front().first);
  return sxy / sxx;
}

}  // namespace

RuleOutcome CheckDiskFull(const Observation& o) {
  constexpr std::string_view kCode = "disk_full";
  if (!HasBootToRead(o)) return Unknown(kCode, "the server is not running");
  auto no_space = FactsOf(o, {ConsoleFactKind::kNoSpace});
  const bool fresh = HealthIsFresh(o) && o.health->root_total_kib && o.health->root_available_kib;
  Finding f;
  f.code = std::string(kCode);
  if (fresh && *o.health->root_available_kib * 100 <= *o.health->root_total_kib) {
    f.severity = Severity::kCritical;
    f.since_ms = o.health_ms;
    f.summary = "the root filesystem is full: " + Kib(*o.health->root_available_kib) +
                " available of " + Kib(*o.health->root_total_kib);
    f.evidence.push_back({Source::kAgent, o.health_ms,
                          "kumo-health: root filesystem " + Kib(*o.health->root_available_kib) +
                              " available of " + Kib(*o.health->root_total_kib)});
  } else if (!no_space.empty() && no_space.back()->time_ms >= o.now_ms - 600000 && !fresh) {
    f.severity = Severity::kWarning;
    f.since_ms = no_space.front()->time_ms;
    f.summary =
        "the guest printed \"No space left on device\" at " + ClockTime(no_space.back()->time_ms);
  } else if (fresh) {
    return Clear(kCode, "root filesystem: " + Kib(*o.health->root_available_kib) +
                            " available of " + Kib(*o.health->root_total_kib));
  } else if (!no_space.empty()) {
    return Clear(kCode, "\"No space left on device\" on the console more than 10 min ago");
  } else {
    return Unknown(kCode, "no kumo-health from this guest, and nothing about space on its console");
  }
  for (const TimedFact* t : no_space) f.evidence.push_back(ConsoleEvidence(*t));
  f.actions = {{"exec", "find and delete what filled it through the agent (du -xs /*)"},
               {"console", "log in and free space; services that cannot write may have stopped"}};
  return Found(std::move(f));
}

RuleOutcome CheckMemoryPressure(const Observation& o) {
  constexpr std::string_view kCode = "memory_pressure";
  if (!GuestRunning(o)) return Unknown(kCode, "the server is not running");
  if (!HealthIsFresh(o) || !o.health->mem_total_kib || !o.health->mem_available_kib) {
    if (!o.image_agent_kind.empty() && o.image_agent_kind != "kumo-agent") {
      return Unknown(kCode, "not available: the image's agent is " + o.image_agent_kind +
                                " (kumo-health needs kumo-agent)");
    }
    return Unknown(kCode, o.stock_agent ? "the guest's agent has no kumo-health (a stock qemu-ga)"
                                        : "no recent kumo-health from the guest");
  }
  const auto& h = *o.health;
  double total = *h.mem_total_kib, available = *h.mem_available_kib;
  double some = h.psi_mem_some10.value_or(0), full = h.psi_mem_full10.value_or(0);
  std::vector<std::string> why;
  // Pressure lingers in avg10 after an OOM kill has freed memory: it counts
  // while memory is short.
  const bool short_of_memory = total > 0 && available < total * 0.5;
  if (short_of_memory && (some >= kPressureSome || full >= kPressureFull)) {
    why.push_back("tasks waited on memory " + Percent(some) + " of the last 10 s");
  }
  if (total > 0 && available < total * kLowAvailable) {
    why.push_back("only " + Kib(available) + " of " + Kib(total) + " is available");
  }
  int64_t trend_from = 0;
  std::optional<double> slope = AvailableSlope(o, &trend_from);
  if (slope && *slope < 0 && total > 0 && available < total * 0.6) {
    double runs_out_ms = available / -*slope;
    if (runs_out_ms < kRunsOutWithinMs) {
      char rate[32];
      std::snprintf(rate, sizeof rate, "%.1f MiB/s", -*slope * 1000 / 1024);
      why.push_back("available memory is falling " + std::string(rate) +
                    ": at this rate it runs out in about " +
                    Duration(static_cast<int64_t>(runs_out_ms)));
    }
  }
  if (why.empty()) {
    return Clear(kCode, "memory: " + Kib(available) + " available of " + Kib(total) +
                            (h.psi_mem_some10 ? ", pressure " + Percent(some) : ""));
  }
  Finding f;
  f.code = std::string(kCode);
  f.severity = Severity::kWarning;
  f.since_ms = trend_from ? trend_from : o.health_ms;
  f.summary = "memory is running out: ";
  for (size_t i = 0; i < why.size(); ++i) f.summary += (i ? "; " : "") + why[i];
  f.summary += " — the OOM killer comes next";
  size_t shown = 0;
  for (auto it = o.samples.rbegin(); it != o.samples.rend() && shown < 4; ++it) {
    if (!Known(it->mem_available_kib)) continue;
    f.evidence.insert(f.evidence.begin(),
                      {Source::kAgent, it->time_ms, "kumo-health: memory " + MemoryLine(*it)});
    ++shown;
  }
  f.actions = {{"exec", "find what grows through the agent (ps -o pid,rss,comm)"},
               {"console", "log in while SSH may still fail"}};
  return Found(std::move(f));
}

RuleOutcome CheckCpuSaturated(const Observation& o) {
  constexpr std::string_view kCode = "cpu_saturated";
  if (!GuestRunning(o)) return Unknown(kCode, "the server is not running");
  const int64_t window = o.settings.cpu_saturated_after_ms;
  const int vcpus = std::max(1, o.server.vcpus);
  std::vector<const telemetry::Sample*> in_window;
  for (const auto& s : o.samples) {
    if (s.time_ms >= o.now_ms - window) in_window.push_back(&s);
  }
  const int64_t slack = 2 * o.settings.health_interval_ms;
  if (in_window.empty() || in_window.front()->time_ms > o.now_ms - window + slack) {
    return Unknown(kCode, "needs " + Duration(window) + " of samples");
  }
  double cpu_sum = 0, load_max = 0;
  int cpu_n = 0;
  for (const auto* s : in_window) {
    // The host's figure when there is one: the guest's CPU pressure also
    // rises while it thrashes on memory, which is not a busy CPU.
    bool busy = Known(s->qemu_cpu_percent)
                    ? s->qemu_cpu_percent >= kBusyShareOfVcpus * 100 * vcpus
                    : Known(s->psi_cpu_some10) && s->psi_cpu_some10 >= kBusyGuestPressure;
    if (!busy) {
      std::string now =
          Known(in_window.back()->qemu_cpu_percent)
              ? "QEMU uses " + Percent(in_window.back()->qemu_cpu_percent) + " of a host core"
              : "no host CPU figure";
      return Clear(kCode, now + " for " + std::to_string(vcpus) + " vCPU(s)");
    }
    if (Known(s->qemu_cpu_percent)) cpu_sum += s->qemu_cpu_percent, ++cpu_n;
    if (Known(s->load1)) load_max = std::max<double>(load_max, s->load1);
  }
  Finding f;
  f.code = std::string(kCode);
  f.severity = Severity::kWarning;
  f.since_ms = in_window.front()->time_ms;
  f.summary = "the guest has kept its " + std::to_string(vcpus) + " vCPU" + (vcpus > 1 ? "s" : "") +
              " busy for " + Duration(o.now_ms - f.since_ms);
  if (cpu_n) f.summary += ": QEMU used " + Percent(cpu_sum / cpu_n) + " of a host core on average";
  if (load_max > 0) {
    char load[16];
    std::snprintf(load, sizeof load, "%.1f", load_max);
    f.summary += std::string("; guest load up to ") + load;
  }
  f.summary += "; the agent and SSH may answer slowly";
  const auto* last = in_window.back();
  if (Known(last->qemu_cpu_percent)) {
    f.evidence.push_back(
        {Source::kHost, last->time_ms,
         "QEMU (pid " + std::to_string(o.server.qemu_pid) +
             "): " + Percent(last->qemu_cpu_percent) + " CPU, " +
             (Known(last->qemu_rss_mib) ? Kib(last->qemu_rss_mib * 1024.0) + " RSS" : "")});
  }
  if (cpu_n) {
    f.evidence.push_back({Source::kHost, o.now_ms,
                          "QEMU's CPU over the last " + Duration(window) + ": " +
                              Percent(cpu_sum / cpu_n) + " on average"});
  }
  if (Known(last->load1)) {
    char text[96];
    std::snprintf(text, sizeof text, "kumo-health: load %.2f", last->load1);
    std::string t = text;
    if (Known(last->psi_cpu_some10)) t += ", CPU pressure " + Percent(last->psi_cpu_some10);
    f.evidence.push_back({Source::kAgent, last->time_ms, t});
  }
  f.actions = {{"exec", "find the busy processes through the agent (top -bn1)"},
               {"console", "log in on the console if SSH is too slow"}};
  return Found(std::move(f));
}

}  // namespace kumo::diagnosis
