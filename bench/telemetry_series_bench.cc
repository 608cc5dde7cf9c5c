// telemetry_series_bench: what a server's telemetry series costs kumod —
// heap bytes and descriptors per server, disk per server, and the time of an
// Add and of the reads the API will serve — for N servers (default 1,000)
// with full 10-minute Recent() windows.
//
// Exit status: 0 when measured, 1 when a series could not be opened, 2 on
// bad usage.
#include <dirent.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "telemetry/server_series.h"

namespace {

using Clock = std::chrono::steady_clock;
using kumo::telemetry::Resolution;
using kumo::telemetry::Sample;
using kumo::telemetry::ServerSeries;

int OpenFds() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d)) ++n;
    closedir(d);
  }
  return n;
}

double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

Sample Point(int64_t time_ms, int i) {
  Sample s;
  s.time_ms = time_ms;
  s.agent_up = true;
  s.load1 = 0.5f + i % 7;
  s.mem_total_kib = 2'000'000;
  s.mem_available_kib = 900'000 - i;
  s.psi_mem_some10 = i % 100;
  s.qemu_cpu_percent = 12.5f;
  s.qemu_rss_mib = 300;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  int servers = 1000;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--servers" && i + 1 < argc) {
      servers = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--servers N]\n", argv[0]);
      return 2;
    }
  }
  if (servers <= 0) return 2;
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  std::string tmpl = (std::filesystem::temp_directory_path() / "kumo-series-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) return 1;
  std::filesystem::path root = tmpl;

  const int64_t t0 = 1'764'600'000'000;
  const int steps = 132;  // 11 minutes of 5 s: Recent() full, one minute rolled up
  int fds_before = OpenFds();
  size_t heap_before = mallinfo2().uordblks;
  std::vector<std::unique_ptr<ServerSeries>> all;
  for (int n = 0; n < servers; ++n) {
    auto dir = root / ("s" + std::to_string(n));
    std::filesystem::create_directory(dir);
    auto series = ServerSeries::Open(dir.string());
    if (!series.ok()) {
      std::fprintf(stderr, "open: %s\n", series.status().ToString().c_str());
      return 1;
    }
    all.push_back(std::move(*series));
  }
  auto add_start = Clock::now();
  for (int i = 0; i < steps; ++i) {
    for (auto& s : all) s->Add(Point(t0 + i * 5000, i));
  }
  auto add_time = Clock::now() - add_start;
  size_t heap_after = mallinfo2().uordblks;
  int fds_after = OpenFds();

  const int reads = std::min(servers, 200);
  auto read_start = Clock::now();
  size_t got = 0;
  for (int n = 0; n < reads; ++n) got += all[n]->Read(Resolution::k5s, t0, t0 + 3600'000).size();
  auto read5s = (Clock::now() - read_start) / reads;
  read_start = Clock::now();
  for (int n = 0; n < reads; ++n) got += all[n]->Read(Resolution::k1m, 0, INT64_MAX).size();
  auto read1m = (Clock::now() - read_start) / reads;

  struct stat st {};
  uintmax_t apparent = 0, allocated = 0;
  for (const char* name : {"telemetry-5s.ring", "telemetry-1m.ring"}) {
    auto path = root / "s0" / name;
    if (stat(path.c_str(), &st) == 0) {
      apparent += static_cast<uintmax_t>(st.st_size);
      allocated += static_cast<uintmax_t>(st.st_blocks) * 512;
    }
  }
  std::printf("servers                         %d\n", servers);
  std::printf("samples added per server        %d (5 s apart)\n", steps);
  std::printf("Recent() size per server        %zu\n", all[0]->Recent().size());
  std::printf("sizeof(Sample), (ServerSeries)  %zu, %zu bytes\n", sizeof(Sample),
              sizeof(ServerSeries));
  std::printf("heap per server                 %.0f bytes\n",
              static_cast<double>(heap_after - heap_before) / servers);
  std::printf("descriptors per server          %.1f\n",
              static_cast<double>(fds_after - fds_before) / servers);
  std::printf("disk per server                 %ju bytes (allocated now %ju)\n", apparent,
              allocated);
  std::printf("Add                             %.2f us each (%d)\n",
              Micros(add_time) / (static_cast<double>(steps) * servers), steps * servers);
  std::printf("Read 5 s, last hour             %.1f us (%d reads)\n", Micros(read5s), reads);
  std::printf("Read 1 min, 24 h                %.1f us (%d reads)\n", Micros(read1m), reads);
  std::printf("write errors (server 0)         %ju\n",
              static_cast<uintmax_t>(all[0]->write_errors()));
  all.clear();
  std::filesystem::remove_all(root);
  return got > 0 ? 0 : 1;
}
