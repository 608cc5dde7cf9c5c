#include "agent/guest_stats.h"

#include <unistd.h>

#include <charconv>
#include <vector>

#include "agent/proc_lines.h"

namespace kumo::agent {
namespace {

using json = nlohmann::json;

// Space-separated unsigned numbers after `skip` leading words; stops at the
// first word that is not a number.
std::vector<uint64_t> Numbers(std::string_view line, size_t skip,
                              std::vector<std::string_view>* words) {
  std::vector<uint64_t> out;
  size_t i = 0, word = 0;
  while (i < line.size() && out.size() < 32) {
    while (i < line.size() && line[i] == ' ') ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ') ++i;
    if (i == start) break;
    std::string_view w = line.substr(start, i - start);
    if (word++ < skip) {
      if (words) words->push_back(w);
      continue;
    }
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(w.data(), w.data() + w.size(), v);
    if (ec != std::errc() || end != w.data() + w.size()) break;
    out.push_back(v);
  }
  return out;
}

}  // namespace

std::optional<json> CpuStatsLine(std::string_view line, int64_t ms_per_tick) {
  if (line.size() < 4 || line.substr(0, 3) != "cpu" || line[3] < '0' || line[3] > '9') {
    return std::nullopt;
  }
  std::vector<std::string_view> words;
  auto v = Numbers(line, 1, &words);
  uint64_t cpu = 0;
  auto [end, ec] = std::from_chars(words[0].data() + 3, words[0].data() + words[0].size(), cpu);
  if (ec != std::errc() || end != words[0].data() + words[0].size() || v.size() < 4) {
    return std::nullopt;
  }
  static const char* const kNames[] = {"user", "nice",    "system", "idle",  "iowait",
                                       "irq",  "softirq", "steal",  "guest", "guestnice"};
  json out = {{"type", "linux"}, {"cpu", cpu}};
  for (size_t i = 0; i < v.size() && i < std::size(kNames); ++i) {
    out[kNames[i]] = v[i] * uint64_t(ms_per_tick);
  }
  return out;
}

std::optional<json> DiskStatsLine(std::string_view line) {
  std::vector<std::string_view> words;
  auto v = Numbers(line, 3, &words);
  if (words.size() < 3) return std::nullopt;
  auto number = [](std::string_view w, uint64_t* out) {
    auto [end, ec] = std::from_chars(w.data(), w.data() + w.size(), *out);
    return ec == std::errc() && end == w.data() + w.size();
  };
  uint64_t major = 0, minor = 0;
  if (!number(words[0], &major) || !number(words[1], &minor)) return std::nullopt;
  json stats = json::object();
  if (v.size() == 4) {  // a partition on kernels before 2.6.25
    stats = {
        {"read-ios", v[0]}, {"read-sectors", v[1]}, {"write-ios", v[2]}, {"write-sectors", v[3]}};
  } else if (v.size() >= 11) {
    static const char* const kNames[] = {
        "read-ios",     "read-merges",   "read-sectors",   "read-ticks",      "write-ios",
        "write-merges", "write-sectors", "write-ticks",    "ios-pgr",         "total-ticks",
        "weight-ticks", "discard-ios",   "discard-merges", "discard-sectors", "discard-ticks",
        "flush-ios",    "flush-ticks"};
    // Discard counters come as four, flush counters as two: only whole groups.
    size_t count = v.size() >= 17 ? 17 : v.size() >= 15 ? 15 : 11;
    for (size_t i = 0; i < count; ++i) stats[kNames[i]] = v[i];
  } else {
    return std::nullopt;
  }
  return json{{"name", words[2]}, {"major", major}, {"minor", minor}, {"stats", std::move(stats)}};
}

json CpuStats() {
  long hz = sysconf(_SC_CLK_TCK);
  int64_t ms_per_tick = hz > 0 ? 1000 / hz : 10;
  json out = json::array();
  ForEachLine("/proc/stat", 1 << 20, [&](std::string_view line) {
    if (auto cpu = CpuStatsLine(line, ms_per_tick)) out.push_back(std::move(*cpu));
    return out.size() < kMaxStatsEntries;
  });
  return out;
}

json DiskStats() {
  json out = json::array();
  ForEachLine("/proc/diskstats", 1 << 20, [&](std::string_view line) {
    if (auto disk = DiskStatsLine(line)) out.push_back(std::move(*disk));
    return out.size() < kMaxStatsEntries;
  });
  return out;
}

}  // namespace kumo::agent
