// Observation: everything kumod knows about one server that a diagnosis
// rule may read — its record, the guest agent's last kumo-health, the recent
// telemetry samples, the kernel and boot lines its console printed since the
// guest's current boot, and the host's probe of its SSH forward. The server
// observer (server_observer.h) keeps one per server, up to date; the rules
// (rules.h) are pure functions of it. Every part is bounded.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "diagnosis/console_lines.h"
#include "model/records.h"
#include "telemetry/guest_health.h"
#include "telemetry/sample.h"

namespace kumo::diagnosis {

// A console fact, when kumod read it, and the lines printed just before it
// (kept for the facts whose story starts earlier: a panic, an Oops).
struct TimedFact {
  int64_t time_ms = 0;
  ConsoleFact fact;
  std::vector<std::string> context;
};

// The host's probe of the SSH forward: does the guest's SSH server send its
// banner ("SSH-2.0-…") on a fresh connection?
struct SshProbe {
  enum class Outcome { kNotProbed, kBanner, kNoBanner };
  Outcome outcome = Outcome::kNotProbed;
  int64_t time_ms = 0;           // of the last probe
  int64_t failing_since_ms = 0;  // the first of the failed probes in a row (0: last one passed)
  int failures_in_row = 0;
  std::string detail;  // what the last probe saw
};

struct RuleSettings {
  int64_t health_interval_ms = 5000;
  int64_t cpu_saturated_after_ms = 120000;
  int64_t boot_stuck_after_ms = 90000;
};

struct Observation {
  int64_t now_ms = 0;
  ServerRecord server;
  // When the guest's current boot began: QEMU's start or the last reset or
  // kernel banner (0: not known, or nothing runs).
  int64_t boot_ms = 0;
  // The last kumo-health answer of this boot and when it came.
  std::optional<telemetry::GuestHealth> health;
  int64_t health_ms = 0;
  bool stock_agent = false;               // the agent answers but has no kumo-health (qemu-ga)
  // The agent the server runs (ServerCore::AgentKindOf; "" when not known).
  std::string image_agent_kind;
  std::deque<telemetry::Sample> samples;  // oldest first, the last kMaxSampleAge
  std::vector<TimedFact> console;         // this boot's facts, oldest first, at most kMaxFacts
  std::deque<std::string> console_tail;   // the last kTailLines lines
  std::string console_partial;  // the line being printed (a prompt waits without a newline)
  SshProbe ssh;
  RuleSettings settings;

  static constexpr int64_t kMaxSampleAgeMs = 10 * 60 * 1000;
  static constexpr size_t kMaxFacts = 256;
  static constexpr size_t kTailLines = 12;
  static constexpr size_t kContextLines = 8;
};

}  // namespace kumo::diagnosis
