// Host-side figures of a process (a server's QEMU) from /proc: CPU time used
// so far and resident memory. Works for every server, whatever its guest runs.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace kumo::telemetry {

struct ProcessFigures {
  double cpu_seconds = 0;  // user + system, since the process started
  uint64_t rss_bytes = 0;
};

// Pure: the texts of /proc/PID/stat and /proc/PID/statm. The command name in
// stat may hold spaces and ')' (it is whatever the process chose), so fields
// are counted from the last ')'. nullopt when either text is malformed or
// `clock_ticks` / `page_size` is not positive.
std::optional<ProcessFigures> ParseProcStat(std::string_view stat_text, std::string_view statm_text,
                                            long clock_ticks, long page_size);

// /proc/PID/stat + statm; nullopt if gone
std::optional<ProcessFigures> ReadProcessFigures(int64_t pid);

}  // namespace kumo::telemetry
