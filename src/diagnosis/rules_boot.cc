// Rules about the guest's boot and its agent's arrival: a filesystem check,
// a boot that never reaches userspace, an image without an agent.
#include <algorithm>

#include "diagnosis/rule_helpers.h"

namespace kumo::diagnosis {
namespace {

bool LoginPromptShown(const Observation& o) {
  for (const auto& line : o.console_tail) {
    if (line.find("login:") != std::string::npos) return true;
  }
  return o.console_partial.find("login:") != std::string::npos;
}

// The last fsck fact of this boot, if it says a check is under way.
const TimedFact* FsckUnderWay(const Observation& o) {
  auto facts = FactsOf(o, {ConsoleFactKind::kFsckStarted, ConsoleFactKind::kFsckProgress,
                           ConsoleFactKind::kFsckPassed, ConsoleFactKind::kFsckFailed});
  if (facts.empty()) return nullptr;
  const TimedFact* last = facts.back();
  if (last->fact.kind != ConsoleFactKind::kFsckStarted &&
      last->fact.kind != ConsoleFactKind::kFsckProgress) {
    return nullptr;
  }
  // The agent answering after it means the boot went on past the check.
  if (AgentAnsweredThisBoot(o) && o.server.agent_last_seen_ms > last->time_ms) return nullptr;
  return last;
}

const TimedFact* FirstFsckFact(const Observation& o) {
  auto facts = FactsOf(o, {ConsoleFactKind::kFsckStarted, ConsoleFactKind::kFsckProgress});
  return facts.empty() ? nullptr : facts.front();
}

}  // namespace

RuleOutcome CheckFsck(const Observation& o) {
  constexpr std::string_view kCode = "fsck";
  if (!HasBootToRead(o)) return Unknown(kCode, "the server is not running");
  Finding f;
  f.code = std::string(kCode);
  auto failed = FactsOf(o, {ConsoleFactKind::kFsckFailed});
  auto errors = FactsOf(o, {ConsoleFactKind::kFsError});
  if (!failed.empty()) {
    f.severity = Severity::kCritical;
    f.since_ms = failed.front()->time_ms;
    f.summary = "the filesystem check at boot failed at " + ClockTime(f.since_ms) + ": " +
                failed.front()->fact.text;
    for (const TimedFact* t :
         FactsOf(o, {ConsoleFactKind::kFsckStarted, ConsoleFactKind::kFsckFailed})) {
      f.evidence.push_back(ConsoleEvidence(*t));
    }
    f.actions = {{"console", "the boot waits on the console for a manual fsck"},
                 {"rescue", "boot a root shell and run e2fsck -f on the root device"}};
    return Found(std::move(f));
  }
  if (!errors.empty()) {
    f.severity = Severity::kCritical;
    f.since_ms = errors.front()->time_ms;
    f.summary = "filesystem errors" +
                (errors.front()->fact.device.empty() ? "" : " on " + errors.front()->fact.device) +
                " since " + ClockTime(f.since_ms) + "; the kernel may have made it read-only";
    for (const TimedFact* t : errors) f.evidence.push_back(ConsoleEvidence(*t));
    f.actions = {{"rescue", "check the filesystem from a rescue boot: e2fsck -f DEVICE"},
                 {"console", "read the errors in full"}};
    return Found(std::move(f));
  }
  if (const TimedFact* running = FsckUnderWay(o)) {
    const TimedFact* first = FirstFsckFact(o);
    f.severity = Severity::kWarning;
    f.since_ms = first ? first->time_ms : running->time_ms;
    std::string device =
        running->fact.device.empty() && first ? first->fact.device : running->fact.device;
    f.summary =
        "a filesystem check" + (device.empty() ? "" : " of " + device) + " is running at boot";
    if (running->fact.percent >= 0) f.summary += " (" + Percent(running->fact.percent) + " done)";
    f.summary += ", since " + ClockTime(f.since_ms) +
                 "; the server comes up when it ends — a force stop would interrupt it";
    if (first && first != running) f.evidence.push_back(ConsoleEvidence(*first));
    f.evidence.push_back(ConsoleEvidence(*running));
    f.actions = {{"console", "watch the check's progress"}};
    return Found(std::move(f));
  }
  auto passed = FactsOf(o, {ConsoleFactKind::kFsckPassed});
  // "DEV: clean, 11/65536 files, …": e2fsck -p found nothing to check, as
  // on every ordinary boot of a distribution that checks its root.
  if (!passed.empty() && passed.back()->fact.text.find(": clean,") != std::string::npos) {
    return Clear(kCode, "the root filesystem was clean at boot (no check needed): " +
                            passed.back()->fact.text);
  }
  if (!passed.empty()) {
    const TimedFact* first = FirstFsckFact(o);
    f.severity = Severity::kInfo;
    f.since_ms = first ? first->time_ms : passed.back()->time_ms;
    f.summary = "a filesystem check ran at boot and passed";
    if (first) f.summary += " (it took " + Duration(passed.back()->time_ms - first->time_ms) + ")";
    if (first) f.evidence.push_back(ConsoleEvidence(*first));
    f.evidence.push_back(ConsoleEvidence(*passed.back()));
    return Found(std::move(f));
  }
  return Clear(kCode,
               "no filesystem check or filesystem error on the console since the guest booted");
}

RuleOutcome CheckBootStuck(const Observation& o) {
  constexpr std::string_view kCode = "boot_stuck";
  if (!GuestRunning(o)) return Unknown(kCode, "the server is not running");
  auto emergency = FactsOf(o, {ConsoleFactKind::kEmergencyMode});
  if (!emergency.empty() && !AgentAnsweredThisBoot(o)) {
    Finding f;
    f.code = std::string(kCode);
    f.severity = Severity::kCritical;
    f.since_ms = emergency.front()->time_ms;
    f.summary = "the boot stopped in an emergency shell at " + ClockTime(f.since_ms) + ": " +
                emergency.front()->fact.text;
    for (const auto& line : emergency.front()->context) {
      f.evidence.push_back({Source::kConsole, emergency.front()->time_ms, line});
    }
    f.evidence.push_back(ConsoleEvidence(*emergency.front()));
    f.actions = {{"console", "the emergency shell waits on the serial console"},
                 {"rescue", "boot a root shell to repair what stopped the boot"}};
    return Found(std::move(f));
  }
  if (AgentAnsweredThisBoot(o)) {
    return Clear(
        kCode, "the guest booted: its agent answered at " + ClockTime(o.server.agent_last_seen_ms));
  }
  if (o.boot_ms == 0) return Unknown(kCode, "the boot's start is not known");
  int64_t booting = o.now_ms - o.boot_ms;
  if (booting < o.settings.boot_stuck_after_ms) {
    return Clear(kCode, "booting for " + Duration(booting) + " (flagged after " +
                            Duration(o.settings.boot_stuck_after_ms) + ")");
  }
  if (FsckUnderWay(o)) return Clear(kCode, "a filesystem check is under way (see fsck)");
  if (LoginPromptShown(o))
    return Clear(kCode, "the console shows a login prompt: the boot finished");
  Finding f;
  f.code = std::string(kCode);
  f.severity = Severity::kCritical;
  f.since_ms = o.boot_ms;
  f.summary = o.server.agent == AgentState::kNone
                  ? "its console shows no login prompt " + Duration(booting) +
                        " after its boot began (the server runs no guest agent to ask)"
                  : "no answer from the guest " + Duration(booting) +
                        " after its boot began, and its console shows no login prompt";
  if (!o.console_tail.empty()) f.summary += "; it last printed: " + o.console_tail.back();
  size_t from = o.console_tail.size() > 6 ? o.console_tail.size() - 6 : 0;
  for (size_t i = from; i < o.console_tail.size(); ++i) {
    f.evidence.push_back({Source::kConsole, 0, o.console_tail[i]});
  }
  f.actions = {{"console", "see where the boot stopped"},
               {"rescue", "boot a root shell without the usual services"},
               {"force_reboot", "try the boot again"}};
  return Found(std::move(f));
}

RuleOutcome CheckAgentMissing(const Observation& o) {
  constexpr std::string_view kCode = "agent_missing";
  if (!GuestRunning(o)) return Unknown(kCode, "the server is not running");
  if (AgentAnsweredThisBoot(o)) return Clear(kCode, "the agent answered during this boot");
  if (o.server.agent == AgentState::kNone) {
    return Unknown(kCode, "the server runs no guest agent (its image has agent kind none)");
  }
  if (o.boot_ms == 0) return Unknown(kCode, "the boot's start is not known");
  int64_t booting = o.now_ms - o.boot_ms;
  if (booting < o.settings.boot_stuck_after_ms || !LoginPromptShown(o)) {
    return Unknown(kCode, "the guest is still booting (" + Duration(booting) + ")");
  }
  Finding f;
  f.code = std::string(kCode);
  f.severity = Severity::kWarning;
  f.since_ms = o.boot_ms;
  f.summary =
      "the guest booted (its console shows a login prompt) but no guest agent has answered in " +
      Duration(booting) +
      ": the image may have none (kumo-agent or qemu-guest-agent), or it fails to start";
  for (const auto& line : o.console_tail) {
    if (line.find("login:") != std::string::npos) f.evidence.push_back({Source::kConsole, 0, line});
  }
  if (o.console_partial.find("login:") != std::string::npos) {
    f.evidence.push_back({Source::kConsole, 0, o.console_partial});
  }
  f.actions = {{"console", "log in and check the agent (is it installed, does its service start?)"},
               {"force_stop", "a graceful stop needs the agent; force stop cuts the power"}};
  return Found(std::move(f));
}

}  // namespace kumo::diagnosis
