#include "telemetry/process_figures.h"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <string>
#include <vector>

namespace kumo::telemetry {
namespace {

std::vector<std::string_view> Fields(std::string_view text) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\n')) ++i;
    size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\n') ++i;
    if (i > start) out.push_back(text.substr(start, i - start));
  }
  return out;
}

std::optional<uint64_t> Unsigned(std::string_view s) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// /proc files are small; 4 KiB holds stat and statm with room to spare.
std::optional<std::string> ReadProcFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out(4096, '\0');
  ssize_t n = read(fd, out.data(), out.size());
  close(fd);
  if (n <= 0) return std::nullopt;
  out.resize(static_cast<size_t>(n));
  return out;
}

}  // namespace

std::optional<ProcessFigures> ParseProcStat(std::string_view stat_text, std::string_view statm_text,
                                            long clock_ticks, long page_size) {
  if (clock_ticks <= 0 || page_size <= 0) return std::nullopt;
  size_t close_paren = stat_text.rfind(')');
  if (close_paren == std::string_view::npos || stat_text.find('(') > close_paren) {
    return std::nullopt;
  }
  // After the name: field 3 (state) is index 0, so utime (14) and stime (15)
  // are indexes 11 and 12.
  auto after = Fields(stat_text.substr(close_paren + 1));
  if (after.size() < 13) return std::nullopt;
  auto utime = Unsigned(after[11]), stime = Unsigned(after[12]);
  auto statm = Fields(statm_text);
  if (!utime || !stime || statm.size() < 2) return std::nullopt;
  auto resident = Unsigned(statm[1]);
  if (!resident || *resident > UINT64_MAX / static_cast<uint64_t>(page_size)) return std::nullopt;
  ProcessFigures f;
  f.cpu_seconds = (static_cast<double>(*utime) + static_cast<double>(*stime)) / clock_ticks;
  f.rss_bytes = *resident * static_cast<uint64_t>(page_size);
  return f;
}

std::optional<ProcessFigures> ReadProcessFigures(int64_t pid) {
  if (pid <= 0) return std::nullopt;
  std::string dir = "/proc/" + std::to_string(pid);
  auto stat = ReadProcFile(dir + "/stat");
  auto statm = ReadProcFile(dir + "/statm");
  if (!stat || !statm) return std::nullopt;
  return ParseProcStat(*stat, *statm, sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE));
}

}  // namespace kumo::telemetry
