#include "diagnosis/rules.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>

#include "diagnosis/rule_helpers.h"

namespace kumo::diagnosis {

const std::vector<Rule>& Rules() {
  static const std::vector<Rule> rules = {
      {"kernel_panic", CheckKernelPanic},
      {"oom_kill", CheckOomKill},
      {"fsck", CheckFsck},
      {"boot_stuck", CheckBootStuck},
      {"hung_task", CheckHungTask},
      {"soft_lockup", CheckSoftLockup},
      {"disk_full", CheckDiskFull},
      {"memory_pressure", CheckMemoryPressure},
      {"cpu_saturated", CheckCpuSaturated},
      {"agent_missing", CheckAgentMissing},
      {"agent_unresponsive", CheckAgentUnresponsive},
      {"ssh_down", CheckSshDown},
  };
  return rules;
}

Diagnosis Diagnose(const Observation& o) {
  Diagnosis d;
  std::vector<std::pair<size_t, Finding>> found;
  const auto& rules = Rules();
  for (size_t i = 0; i < rules.size(); ++i) {
    RuleOutcome out = rules[i].run(o);
    out.check.code = std::string(rules[i].code);
    d.checks.push_back(std::move(out.check));
    if (out.finding) {
      out.finding->code = std::string(rules[i].code);
      if (out.finding->evidence.size() > kMaxEvidence) {
        out.finding->evidence.erase(out.finding->evidence.begin(),
                                    out.finding->evidence.end() - kMaxEvidence);
      }
      found.emplace_back(i, std::move(*out.finding));
    }
  }
  // Causes before symptoms (rule order), critical before the rest within
  // each: a panic explains a silent agent, not the other way round.
  std::stable_sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    bool a_critical = a.second.severity == Severity::kCritical;
    bool b_critical = b.second.severity == Severity::kCritical;
    if (a_critical != b_critical) return a_critical;
    return a.first < b.first;
  });
  for (auto& [_, f] : found) d.findings.push_back(std::move(f));
  return d;
}

RuleOutcome Found(Finding finding, std::string detail) {
  Check check{finding.code, CheckState::kFound, detail.empty() ? finding.summary : detail};
  return {std::move(check), std::move(finding)};
}

bool GuestRunning(const Observation& o) { return o.server.power == Power::kRunning; }

bool HasBootToRead(const Observation& o) {
  return o.server.power != Power::kOff || o.server.status == ServerStatus::kError;
}

bool AgentAnsweredThisBoot(const Observation& o) {
  return o.server.agent_last_seen_ms > 0 && o.server.agent_last_seen_ms >= o.boot_ms;
}

bool HealthIsFresh(const Observation& o) {
  return o.health && o.now_ms - o.health_ms <= 3 * o.settings.health_interval_ms + 1000;
}

bool IsSshServer(const std::string& process) {
  return process == "dropbear" || process.rfind("sshd", 0) == 0;
}

bool IsGuestAgent(const std::string& process) {
  return process == "kumo-agent" || process == "qemu-ga" || process == "qemu-guest-agen";
}

Evidence ConsoleEvidence(const TimedFact& f) { return {Source::kConsole, f.time_ms, f.fact.text}; }

std::string Duration(int64_t ms) {
  int64_t s = std::max<int64_t>(0, ms / 1000);
  if (s < 120) return std::to_string(s) + " s";
  if (s < 2 * 3600) return std::to_string(s / 60) + " min";
  return std::to_string(s / 3600) + " h";
}

std::string Kib(double kib) {
  char buf[32];
  double mib = kib / 1024;
  if (mib >= 1024) {
    std::snprintf(buf, sizeof buf, "%.1f GiB", mib / 1024);
  } else if (mib >= 10 || mib == std::floor(mib)) {
    std::snprintf(buf, sizeof buf, "%.0f MiB", mib);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f MiB", mib);
  }
  return buf;
}

std::string Percent(double value) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.0f%%", value);
  return buf;
}

std::string ClockTime(int64_t time_ms) {
  if (time_ms <= 0) return "an unknown time";
  std::time_t t = static_cast<std::time_t>(time_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%H:%M:%S UTC", &tm);
  return buf;
}

std::vector<const TimedFact*> FactsOf(const Observation& o,
                                      std::initializer_list<ConsoleFactKind> kinds) {
  std::vector<const TimedFact*> out;
  for (const auto& f : o.console) {
    if (std::find(kinds.begin(), kinds.end(), f.fact.kind) != kinds.end()) out.push_back(&f);
  }
  return out;
}

}  // namespace kumo::diagnosis
