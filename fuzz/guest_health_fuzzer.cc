// Fuzzes what telemetry takes from outside kumod: a kumo-health reply as the
// guest sends it (JSON text), and /proc/PID/stat + statm texts.
//
// Invariants (a violation aborts):
//  - ParseGuestHealth never throws, and an object always parses;
//  - at most kMaxOomVictims victims; every name and sshd's program is at most
//    kMaxProcessName bytes of valid UTF-8 without control characters (dumping
//    it as JSON, which rejects invalid UTF-8, must not throw);
//  - every figure present is finite and in range (PSI 0..100, sizes >= 0);
//  - SampleOf and SeriesJson take the result without throwing;
//  - ParseProcStat gives non-negative figures or nothing.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "telemetry/guest_health.h"
#include "telemetry/process_figures.h"
#include "telemetry/server_series.h"

namespace {

using namespace kumo::telemetry;

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "guest_health_fuzzer: invariant violated: %s\n", what);
  std::abort();
}

void CheckName(const std::string& name) {
  if (name.size() > kMaxProcessName) Fail("name over the bound");
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) Fail("control character in a name");
  }
  nlohmann::json j = name;
  (void)j.dump();  // throws on invalid UTF-8
}

void CheckRange(const std::optional<double>& v, double lo, double hi, const char* what) {
  if (v && (!std::isfinite(*v) || *v < lo || *v > hi)) Fail(what);
}

void CheckHealth(const GuestHealth& h) {
  if (h.oom_kills.size() > kMaxOomVictims) Fail("too many victims");
  for (const auto& v : h.oom_kills) {
    CheckName(v.process);
    if (v.pid < 0 || v.time_ms < 0) Fail("negative victim pid or time");
  }
  CheckName(h.sshd_program);
  for (auto psi :
       {h.psi_cpu_some10, h.psi_mem_some10, h.psi_mem_full10, h.psi_io_some10, h.psi_io_full10}) {
    CheckRange(psi, 0, 100, "PSI out of range");
  }
  for (auto size : {h.mem_total_kib, h.mem_available_kib, h.root_total_kib, h.root_used_kib,
                    h.root_available_kib, h.load1, h.load5, h.load15}) {
    CheckRange(size, 0, 1e15, "size or load out of range");
  }
  if (h.agent_pid < 0 || h.sshd_pid < 0 || h.processes < 0) Fail("negative count");
  if (!(h.uptime_s == -1 || (std::isfinite(h.uptime_s) && h.uptime_s >= 0))) Fail("uptime");
  Sample s = SampleOf(1, &h, std::nullopt, std::nullopt);
  (void)SeriesJson({s}).dump();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  nlohmann::json reply = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto health = ParseGuestHealth(reply);
  if (reply.is_object() != health.ok()) Fail("an object must parse, anything else must not");
  if (health.ok()) CheckHealth(*health);

  // The same bytes as /proc/PID/stat, then statm after the first NUL.
  size_t nul = text.find('\0');
  std::string_view stat = text.substr(0, nul);
  std::string_view statm = nul == std::string_view::npos ? "" : text.substr(nul + 1);
  if (auto f = ParseProcStat(stat, statm, 100, 4096)) {
    if (!(f->cpu_seconds >= 0) || !std::isfinite(f->cpu_seconds)) Fail("cpu seconds");
  }
  return 0;
}
