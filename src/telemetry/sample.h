// One point of a server's telemetry series, and the table of its figures
// that the ring files, the minute roll-up and the JSON share.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>

#include "telemetry/guest_health.h"

namespace kumo::telemetry {

// One point of a server's series. NaN: unknown at that time (no agent answer, stock qemu-ga...).
struct Sample {
  int64_t time_ms = 0;
  bool agent_up = false;
  float load1 = NAN, mem_total_kib = NAN, mem_available_kib = NAN, psi_cpu_some10 = NAN,
        psi_mem_some10 = NAN, psi_mem_full10 = NAN, psi_io_some10 = NAN, root_used_kib = NAN,
        root_total_kib = NAN,
        oom_kills = NAN,       // count the agent reports
      qemu_cpu_percent = NAN,  // of one core, over the last interval
      qemu_rss_mib = NAN;
};

// The figures of a Sample, in a fixed order (the ring files' layout: append only).
struct SampleField {
  const char* name;
  float Sample::*member;
};
inline constexpr SampleField kSampleFields[] = {
    {"load1", &Sample::load1},
    {"mem_total_kib", &Sample::mem_total_kib},
    {"mem_available_kib", &Sample::mem_available_kib},
    {"psi_cpu_some10", &Sample::psi_cpu_some10},
    {"psi_mem_some10", &Sample::psi_mem_some10},
    {"psi_mem_full10", &Sample::psi_mem_full10},
    {"psi_io_some10", &Sample::psi_io_some10},
    {"root_used_kib", &Sample::root_used_kib},
    {"root_total_kib", &Sample::root_total_kib},
    {"oom_kills", &Sample::oom_kills},
    {"qemu_cpu_percent", &Sample::qemu_cpu_percent},
    {"qemu_rss_mib", &Sample::qemu_rss_mib},
};
inline constexpr size_t kSampleFieldCount = sizeof(kSampleFields) / sizeof(kSampleFields[0]);

// `health` null: no answer from the agent (agent_up false, guest figures NaN).
Sample SampleOf(int64_t time_ms, const GuestHealth* health /*null: no answer*/,
                std::optional<double> qemu_cpu_percent, std::optional<uint64_t> qemu_rss_bytes);

}  // namespace kumo::telemetry
