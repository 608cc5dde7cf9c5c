// guest-get-cpustats and guest-get-diskstats, as qemu-ga 7.2 answers them on
// Linux: per CPU the /proc/stat times in milliseconds ({"type": "linux",
// "cpu": N, "user": …}), per block device the /proc/diskstats counters
// ({"name", "major", "minor", "stats": {"read-ios": …}}). Bounded: at most
// kMaxEntries CPUs or devices are reported.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

namespace kumo::agent {

inline constexpr size_t kMaxStatsEntries = 256;

// One "cpuN …" line of /proc/stat; nullopt for the total line and others.
std::optional<nlohmann::json> CpuStatsLine(std::string_view line, int64_t ms_per_tick);
// One /proc/diskstats line; nullopt if malformed.
std::optional<nlohmann::json> DiskStatsLine(std::string_view line);

nlohmann::json CpuStats();
nlohmann::json DiskStats();

}  // namespace kumo::agent
