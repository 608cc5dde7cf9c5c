// What every benchmark here shares: percentiles of a sample, a process's
// memory from /proc, and the JSON file of figures that scripts/bench.sh hands to bench/report.py
// (written only when the bench is given --json PATH).
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace kumo::bench {

// The q-th quantile (0..1) of `values`, nearest rank; 0 for an empty sample.
inline double Percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t rank = static_cast<size_t>(q * static_cast<double>(values.size()) + 0.5);
  return values[std::min(values.size() - 1, rank == 0 ? 0 : rank - 1)];
}

// A field of /proc/PID/status in KiB ("VmRSS:  1234 kB"), or -1.
inline long StatusKib(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::atol(line.c_str() + field.size() + 1);
  }
  return -1;
}

// Writes `figures` to `path` ("" writes nothing); false if it cannot.
inline bool WriteFigures(const std::string& path, const nlohmann::json& figures) {
  if (path.empty()) return true;
  std::ofstream out(path);
  out << figures.dump(2) << "\n";
  if (!out) std::fprintf(stderr, "cannot write %s\n", path.c_str());
  return static_cast<bool>(out);
}

}  // namespace kumo::bench
