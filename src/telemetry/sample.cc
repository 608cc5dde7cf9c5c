#include "telemetry/sample.h"

namespace kumo::telemetry {
namespace {

float Figure(const std::optional<double>& v) { return v ? static_cast<float>(*v) : NAN; }

}  // namespace

Sample SampleOf(int64_t time_ms, const GuestHealth* health, std::optional<double> qemu_cpu_percent,
                std::optional<uint64_t> qemu_rss_bytes) {
  Sample s;
  s.time_ms = time_ms;
  s.qemu_cpu_percent = Figure(qemu_cpu_percent);
  if (qemu_rss_bytes) s.qemu_rss_mib = static_cast<float>(*qemu_rss_bytes / (1024.0 * 1024.0));
  if (!health) return s;
  s.agent_up = true;
  s.load1 = Figure(health->load1);
  s.mem_total_kib = Figure(health->mem_total_kib);
  s.mem_available_kib = Figure(health->mem_available_kib);
  s.psi_cpu_some10 = Figure(health->psi_cpu_some10);
  s.psi_mem_some10 = Figure(health->psi_mem_some10);
  s.psi_mem_full10 = Figure(health->psi_mem_full10);
  s.psi_io_some10 = Figure(health->psi_io_some10);
  s.root_used_kib = Figure(health->root_used_kib);
  s.root_total_kib = Figure(health->root_total_kib);
  s.oom_kills = static_cast<float>(health->oom_kills.size());
  return s;
}

}  // namespace kumo::telemetry
