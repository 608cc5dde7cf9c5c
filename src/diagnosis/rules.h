// The diagnosis rules: each a small pure function from an Observation to a
// check (found / clear / unknown) and, when found, a finding with the
// evidence it rests on and the ways out. Diagnose runs them all and puts the
// most likely cause first: causes (a panic, the OOM killer, a filesystem
// check) before their symptoms (the agent silent, SSH down), then by
// severity.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "diagnosis/finding.h"
#include "diagnosis/observation.h"

namespace kumo::diagnosis {

struct RuleOutcome {
  Check check;
  std::optional<Finding> finding;  // set when check.state is kFound
};

using RuleFunction = RuleOutcome (*)(const Observation&);

struct Rule {
  std::string_view code;
  RuleFunction run;
};

// Every rule, most likely cause first.
const std::vector<Rule>& Rules();

RuleOutcome CheckKernelPanic(const Observation& o);
RuleOutcome CheckOomKill(const Observation& o);
RuleOutcome CheckFsck(const Observation& o);
RuleOutcome CheckBootStuck(const Observation& o);
RuleOutcome CheckHungTask(const Observation& o);
RuleOutcome CheckSoftLockup(const Observation& o);
RuleOutcome CheckDiskFull(const Observation& o);
RuleOutcome CheckMemoryPressure(const Observation& o);
RuleOutcome CheckCpuSaturated(const Observation& o);
RuleOutcome CheckAgentMissing(const Observation& o);
RuleOutcome CheckAgentUnresponsive(const Observation& o);
RuleOutcome CheckSshDown(const Observation& o);

Diagnosis Diagnose(const Observation& o);

// The victims of this boot's OOM kills, from the console and the agent,
// one per pid, oldest first; the agent's name wins (the console may double
// characters under load).
struct OomVictimView {
  int64_t time_ms = 0;
  int64_t pid = 0;
  std::string process;
  uint64_t rss_kib = 0;
  bool from_console = false;
  bool from_agent = false;
};
std::vector<OomVictimView> OomVictims(const Observation& o);

// "dropbear (pid 212, 4 MiB)"
std::string DescribeVictim(const OomVictimView& v);
// "14:02:11 UTC"
std::string ClockTime(int64_t time_ms);

}  // namespace kumo::diagnosis
