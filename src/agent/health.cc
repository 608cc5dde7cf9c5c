#include "agent/health.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace kumo::agent {
namespace {

// Small /proc files only; never more than `limit` bytes.
std::string ReadSmallFile(const char* path, size_t limit = 16384) {
  std::string out;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  while (out.size() < limit) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  if (out.size() > limit) out.resize(limit);
  return out;
}

// Splits off whitespace-separated fields.
std::vector<std::string_view> Fields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\n')) ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\n') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

std::optional<double> ToDouble(std::string_view s) {
  std::string copy(s);
  char* end = nullptr;
  double v = strtod(copy.c_str(), &end);
  if (copy.empty() || end != copy.c_str() + copy.size()) return std::nullopt;
  return v;
}

std::optional<int64_t> ToInt(std::string_view s) {
  std::string copy(s);
  char* end = nullptr;
  long long v = strtoll(copy.c_str(), &end, 10);
  if (copy.empty() || end != copy.c_str() + copy.size()) return std::nullopt;
  return v;
}

bool IsAllDigits(const char* s) {
  if (!*s) return false;
  for (; *s; ++s) {
    if (*s < '0' || *s > '9') return false;
  }
  return true;
}

double Now(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec / 1e9;
}

// Finds the SSH server (OpenSSH's listener or dropbear) among the processes;
// counts processes on the way.
json ScanProcesses(const std::string& proc_root, int64_t* process_count) {
  json sshd = {{"running", false}};
  *process_count = 0;
  DIR* dir = opendir(proc_root.c_str());
  if (!dir) return sshd;
  while (dirent* entry = readdir(dir)) {
    if (!IsAllDigits(entry->d_name)) continue;
    ++*process_count;
    if (sshd["running"].get<bool>()) continue;
    std::string path = proc_root + "/" + entry->d_name + "/comm";
    std::string comm = ReadSmallFile(path.c_str(), 64);
    while (!comm.empty() && comm.back() == '\n') comm.pop_back();
    if (comm == "sshd" || comm == "dropbear") {
      sshd = {{"running", true}, {"pid", std::atoll(entry->d_name)}, {"program", comm}};
    }
  }
  closedir(dir);
  return sshd;
}

}  // namespace

std::optional<json> ParseLoadavg(std::string_view text) {
  auto f = Fields(text);
  if (f.size() < 4) return std::nullopt;
  auto l1 = ToDouble(f[0]), l5 = ToDouble(f[1]), l15 = ToDouble(f[2]);
  size_t slash = f[3].find('/');
  if (!l1 || !l5 || !l15 || slash == std::string_view::npos) return std::nullopt;
  auto running = ToInt(f[3].substr(0, slash)), total = ToInt(f[3].substr(slash + 1));
  if (!running || !total) return std::nullopt;
  return json{{"1m", *l1}, {"5m", *l5}, {"15m", *l15}, {"running", *running}, {"total", *total}};
}

std::optional<json> ParseMeminfo(std::string_view text) {
  std::optional<int64_t> total, available;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    auto f = Fields(text.substr(start, end - start));
    if (f.size() >= 2 && f[0] == "MemTotal:") total = ToInt(f[1]);
    if (f.size() >= 2 && f[0] == "MemAvailable:") available = ToInt(f[1]);
    start = end + 1;
  }
  if (!total || !available) return std::nullopt;
  return json{{"total_kib", *total}, {"available_kib", *available}};
}

std::optional<json> ParsePressure(std::string_view text) {
  json out = json::object();
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    auto f = Fields(text.substr(start, end - start));
    start = end + 1;
    if (f.empty() || (f[0] != "some" && f[0] != "full")) continue;
    json line = json::object();
    for (size_t i = 1; i < f.size(); ++i) {
      size_t eq = f[i].find('=');
      if (eq == std::string_view::npos) return std::nullopt;
      std::string key(f[i].substr(0, eq));
      if (key == "total") continue;
      auto v = ToDouble(f[i].substr(eq + 1));
      if (!v) return std::nullopt;
      line[key] = *v;
    }
    if (!line.contains("avg10") || !line.contains("avg60") || !line.contains("avg300")) {
      return std::nullopt;
    }
    out[std::string(f[0])] = line;
  }
  if (!out.contains("some")) return std::nullopt;
  return out;
}

std::optional<double> ParseUptime(std::string_view text) {
  auto f = Fields(text);
  if (f.empty()) return std::nullopt;
  return ToDouble(f[0]);
}

json CollectHealth(const std::deque<OomKill>& kills, const std::string& proc_root) {
  auto read = [&proc_root](const std::string& name) {
    return ReadSmallFile((proc_root + "/" + name).c_str());
  };
  json health = json::object();
  double uptime = ParseUptime(read("uptime")).value_or(0);
  health["uptime_s"] = uptime;
  health["time"] = static_cast<int64_t>(Now(CLOCK_REALTIME));
  if (auto load = ParseLoadavg(read("loadavg"))) health["load"] = *load;
  if (auto mem = ParseMeminfo(read("meminfo"))) health["memory"] = *mem;

  json psi = json::object();
  for (const char* resource : {"cpu", "memory", "io"}) {
    if (auto p = ParsePressure(read(std::string("pressure/") + resource))) psi[resource] = *p;
  }
  health["pressure"] = psi.empty() ? json(nullptr) : psi;  // null: kernel without PSI

  int64_t processes = 0;
  health["sshd"] = ScanProcesses(proc_root, &processes);
  health["processes"] = processes;

  struct statvfs fs {};
  if (statvfs("/", &fs) == 0) {
    uint64_t unit = fs.f_frsize ? fs.f_frsize : fs.f_bsize;
    health["root_fs"] = {{"total_kib", fs.f_blocks * unit / 1024},
                         {"used_kib", (fs.f_blocks - fs.f_bfree) * unit / 1024},
                         {"available_kib", fs.f_bavail * unit / 1024}};
  }

  // Kernel timestamps are microseconds since boot; boot time in wall-clock
  // terms turns them into the time an operator can read.
  double boot_time = Now(CLOCK_REALTIME) - Now(CLOCK_BOOTTIME);
  json oom = json::array();
  for (const auto& k : kills) {
    double at = k.uptime_us / 1e6;
    oom.push_back({{"time", static_cast<int64_t>(boot_time + at)},
                   {"uptime_s", at},
                   {"pid", k.pid},
                   {"process", k.process},
                   {"rss_kib", k.rss_kib}});
  }
  health["oom_kills"] = oom;
  health["agent_pid"] = static_cast<int64_t>(getpid());
  return health;
}

}  // namespace kumo::agent
