// The guest agent's kumo-health reply (src/agent/health.cc), typed and
// bounded. The reply is untrusted: ParseGuestHealth never throws, keeps only
// fields of the right type within a plausible range, and bounds every list
// and string, whatever the guest sends.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace kumo::telemetry {

// One process the guest kernel's OOM killer killed, as the agent recorded it.
struct OomVictim {
  int64_t time_ms = 0;  // guest wall clock; 0: unknown
  int64_t pid = 0;      // 0: unknown
  std::string process;  // ≤ kMaxProcessName bytes, valid UTF-8, no control characters
  uint64_t rss_kib = 0;
};

struct GuestHealth {
  int64_t agent_pid = 0;  // 0: unknown
  double uptime_s = -1;   // -1: unknown
  std::optional<double> load1, load5, load15;
  std::optional<double> mem_total_kib, mem_available_kib;
  // PSI avg10 (percent, 0..100); absent when the guest kernel has no PSI
  std::optional<double> psi_cpu_some10, psi_mem_some10, psi_mem_full10, psi_io_some10,
      psi_io_full10;
  std::optional<bool> sshd_running;
  int64_t sshd_pid = 0;
  std::string sshd_program;  // bounded like OomVictim::process
  std::optional<double> root_total_kib, root_used_kib, root_available_kib;
  int64_t processes = 0;
  // at most kMaxOomVictims (the newest, oldest first), names ≤ kMaxProcessName
  // bytes, control chars stripped
  std::vector<OomVictim> oom_kills;
  // Guest wall clock when the agent answered (ms); 0: unknown.
  int64_t guest_time_ms = 0;
};

inline constexpr size_t kMaxOomVictims = 32;
inline constexpr size_t kMaxProcessName = 64;

// Never throws; a field of the wrong type or out of range is left absent. Error only when
// `reply` is not an object.
Result<GuestHealth> ParseGuestHealth(const nlohmann::json& reply);

}  // namespace kumo::telemetry
