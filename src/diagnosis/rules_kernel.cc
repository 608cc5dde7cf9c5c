// Rules read mostly from the kernel's own words on the console: a panic,
// the OOM killer, hung tasks, soft lockups.
#include <algorithm>
#include <map>

#include "diagnosis/rule_helpers.h"

namespace kumo::diagnosis {
namespace {

Action ConsoleAction(const std::string& why) { return {"console", why}; }

}  // namespace

RuleOutcome CheckKernelPanic(const Observation& o) {
  constexpr std::string_view kCode = "kernel_panic";
  if (!HasBootToRead(o)) return Unknown(kCode, "the server is not running");
  auto panics = FactsOf(o, {ConsoleFactKind::kKernelPanic});
  auto bugs = FactsOf(o, {ConsoleFactKind::kKernelBug});
  bool qemu_says = o.server.status == ServerStatus::kError &&
                   o.server.status_reason.find("panicked") != std::string::npos;
  if (panics.empty() && bugs.empty() && !qemu_says) {
    return Clear(kCode, "no panic or Oops on the console since the guest booted");
  }
  Finding f;
  f.code = std::string(kCode);
  if (!panics.empty()) {
    const TimedFact& p = *panics.front();
    f.severity = Severity::kCritical;
    f.since_ms = p.time_ms;
    f.summary = "the guest kernel panicked at " + ClockTime(p.time_ms) +
                (p.fact.detail.empty() ? "" : ": " + p.fact.detail);
    for (const auto& line : p.context) f.evidence.push_back({Source::kConsole, p.time_ms, line});
    f.evidence.push_back(ConsoleEvidence(p));
  } else if (!bugs.empty()) {
    const TimedFact& b = *bugs.front();
    f.severity = qemu_says ? Severity::kCritical : Severity::kWarning;
    f.since_ms = b.time_ms;
    f.summary = "the guest kernel hit a bug (Oops) at " + ClockTime(b.time_ms) +
                "; it may keep running damaged";
    for (const auto& line : b.context) f.evidence.push_back({Source::kConsole, b.time_ms, line});
    f.evidence.push_back(ConsoleEvidence(b));
  } else {
    f.severity = Severity::kCritical;
    f.since_ms = o.server.updated_ms;
    f.summary = "the guest kernel panicked (QEMU's pvpanic device reported it)";
  }
  if (qemu_says) {
    f.evidence.push_back({Source::kHost, o.server.updated_ms, "QEMU: " + o.server.status_reason});
  }
  f.actions = {{"force_reboot", "a panicked kernel does not come back by itself"},
               ConsoleAction("read the lines before the panic: they name what failed")};
  return Found(std::move(f));
}

std::vector<OomVictimView> OomVictims(const Observation& o) {
  std::map<int64_t, OomVictimView> by_pid;
  for (const TimedFact* t : FactsOf(o, {ConsoleFactKind::kOomKill})) {
    auto& v = by_pid[t->fact.pid];
    v.pid = t->fact.pid;
    if (!v.time_ms) v.time_ms = t->time_ms;
    if (v.process.empty()) v.process = t->fact.process;
    if (!v.rss_kib) v.rss_kib = t->fact.kib;
    v.from_console = true;
  }
  if (o.health) {
    for (const auto& k : o.health->oom_kills) {
      // A kill the agent remembers from before this boot's start is another boot's.
      if (o.boot_ms && k.time_ms && k.time_ms + 60000 < o.boot_ms) continue;
      auto& v = by_pid[k.pid];
      v.pid = k.pid;
      if (!v.time_ms || (k.time_ms && !v.from_console)) v.time_ms = k.time_ms;
      if (!k.process.empty()) v.process = k.process;
      if (k.rss_kib) v.rss_kib = k.rss_kib;
      v.from_agent = true;
    }
  }
  std::vector<OomVictimView> out;
  for (auto& [_, v] : by_pid) out.push_back(std::move(v));
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.time_ms < b.time_ms; });
  return out;
}

std::string DescribeVictim(const OomVictimView& v) {
  std::string s = (v.process.empty() ? "a process" : v.process) + " (pid " + std::to_string(v.pid);
  if (v.rss_kib) s += ", " + Kib(static_cast<double>(v.rss_kib));
  return s + ")";
}

RuleOutcome CheckOomKill(const Observation& o) {
  constexpr std::string_view kCode = "oom_kill";
  if (!HasBootToRead(o)) return Unknown(kCode, "the server is not running");
  auto victims = OomVictims(o);
  if (victims.empty()) {
    return Clear(kCode, o.health ? "no OOM kill since the guest booted (console and agent)"
                                 : "no OOM kill on the console since the guest booted");
  }
  Finding f;
  f.code = std::string(kCode);
  f.since_ms = victims.front().time_ms;
  bool ssh_victim = false, agent_victim = false;
  std::string names;
  constexpr size_t kNamed = 4;
  for (size_t i = 0; i < victims.size() && i < kNamed; ++i) {
    if (i)
      names +=
          (i + 1 == std::min(victims.size(), kNamed) && victims.size() <= kNamed) ? " and " : ", ";
    names += DescribeVictim(victims[i]);
  }
  if (victims.size() > kNamed) names += " and " + std::to_string(victims.size() - kNamed) + " more";
  for (const auto& v : victims) {
    ssh_victim |= IsSshServer(v.process);
    agent_victim |= IsGuestAgent(v.process);
  }
  f.summary = "the OOM killer killed " + names + " at " + ClockTime(victims.front().time_ms);
  // The pressure that came before the first kill, from the agent's samples.
  float peak = -1;
  for (const auto& s : o.samples) {
    if (s.time_ms > victims.front().time_ms || s.time_ms < victims.front().time_ms - 60000)
      continue;
    if (!std::isnan(s.psi_mem_some10)) peak = std::max(peak, s.psi_mem_some10);
  }
  if (peak >= 1)
    f.summary += "; memory pressure reached " + Percent(peak) + " in the minute before";
  if (ssh_victim) f.summary += "; the SSH server was among them";
  if (agent_victim) f.summary += "; the guest agent was among them";
  if (GuestRunning(o)) {
    f.summary += o.server.agent == AgentState::kOk     ? "; the agent answers"
                 : o.server.agent == AgentState::kNone ? ""
                                                       : "; the agent does not answer";
  }
  f.severity = (ssh_victim || agent_victim) ? Severity::kCritical : Severity::kWarning;
  for (const TimedFact* t : FactsOf(o, {ConsoleFactKind::kOomInvoked, ConsoleFactKind::kOomKill})) {
    f.evidence.push_back(ConsoleEvidence(*t));
  }
  for (const auto& v : victims) {
    if (v.from_agent) {
      f.evidence.push_back(
          {Source::kAgent, v.time_ms, "kumo-health: OOM kill of " + DescribeVictim(v)});
    }
  }
  f.actions.push_back(
      ConsoleAction("log in on the serial console: it works without SSH or the network"));
  if (o.server.agent == AgentState::kOk && ssh_victim) {
    f.actions.push_back({"exec", "start the SSH server again through the agent"});
  }
  f.actions.push_back({"reboot",
                       "restarts everything the OOM killer took; if it comes back, the server "
                       "needs more memory or a process leaks (the victims' sizes above)"});
  return Found(std::move(f));
}

namespace {

RuleOutcome BlockedTasks(const Observation& o, std::string_view code,
                         std::initializer_list<ConsoleFactKind> kinds, const std::string& what,
                         const std::string& none) {
  if (!HasBootToRead(o)) return Unknown(code, "the server is not running");
  auto facts = FactsOf(o, kinds);
  if (facts.empty()) return Clear(code, none + " on the console since the guest booted");
  Finding f;
  f.code = std::string(code);
  f.severity = Severity::kWarning;
  f.since_ms = facts.front()->time_ms;
  std::vector<std::string> named;
  for (const TimedFact* t : facts) {
    std::string n = t->fact.process.empty()
                        ? ""
                        : t->fact.process + " (pid " + std::to_string(t->fact.pid) + ")";
    if (!n.empty() && std::find(named.begin(), named.end(), n) == named.end() && named.size() < 4) {
      named.push_back(n);
    }
    f.evidence.push_back(ConsoleEvidence(*t));
  }
  std::string list;
  for (size_t i = 0; i < named.size(); ++i) list += (i ? ", " : "") + named[i];
  int64_t seconds = facts.back()->fact.seconds;
  f.summary = what + " since " + ClockTime(f.since_ms) + (list.empty() ? "" : ": " + list) +
              (seconds > 0 ? " (stuck for more than " + std::to_string(seconds) + " s)" : "");
  f.actions = {
      ConsoleAction("see what the blocked tasks wait for (a frozen or failing disk, a lock)"),
      {"force_reboot", "a task stuck in the kernel often ends only with a reboot"}};
  return Found(std::move(f));
}

}  // namespace

RuleOutcome CheckHungTask(const Observation& o) {
  return BlockedTasks(o, "hung_task", {ConsoleFactKind::kHungTask}, "tasks blocked in the kernel",
                      "no hung task report");
}

RuleOutcome CheckSoftLockup(const Observation& o) {
  return BlockedTasks(o, "soft_lockup", {ConsoleFactKind::kSoftLockup, ConsoleFactKind::kRcuStall},
                      "a CPU stuck in the kernel (soft lockup / RCU stall)",
                      "no soft lockup or RCU stall report");
}

}  // namespace kumo::diagnosis
