// idle_connections_bench: kumod under a flood of idle connections. Starts
// kumod (fork/execv, no shell) with RLIMIT_NOFILE lowered soft and hard,
// opens N TCP connections that send nothing, then measures kumod's CPU (from
// /proc/PID/stat, utime + stime) over a window and the latency of
// GET /healthz on fresh connections (each with a 5 s deadline).
//
// Usage: idle_connections_bench [--kumod PATH] [--files N] [--idle N]
//                                [--window-s N] [--requests N] [-- KUMOD_FLAGS...]
// Exit status: 0 when measured, 1 when kumod did not start.
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/fake_api_server.h"
#include "support/host_probe.h"

namespace {

using Clock = std::chrono::steady_clock;

// Milliseconds until a GET /healthz on a new connection is answered; -1 if
// it is not within 5 s.
double HealthzMs(int port) {
  auto start = Clock::now();
  int fd = kumo::testing::ConnectLoopback(port);
  if (fd < 0) return -1;
  std::string r = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  if (write(fd, r.data(), r.size()) != static_cast<ssize_t>(r.size())) {
    close(fd);
    return -1;
  }
  pollfd p{fd, POLLIN, 0};
  char buf[512];
  bool ok = poll(&p, 1, 5000) > 0 && read(fd, buf, sizeof buf) > 12 &&
            std::string(buf, 12) == "HTTP/1.1 200";
  close(fd);
  return ok ? std::chrono::duration<double, std::milli>(Clock::now() - start).count() : -1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string kumod = KUMOD_PATH;
  rlim_t files = 256;
  int idle = 400, window_s = 3, requests = 20;
  std::vector<std::string> extra;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--kumod")
      kumod = next();
    else if (a == "--files")
      files = std::stoul(next());
    else if (a == "--idle")
      idle = std::stoi(next());
    else if (a == "--window-s")
      window_s = std::stoi(next());
    else if (a == "--requests")
      requests = std::stoi(next());
    else if (a == "--") {
      extra.assign(argv + i + 1, argv + argc);
      break;
    } else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  char tmpl[] = "/tmp/kumo-bench-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  chmod(dir.c_str(), 0711);  // QEMU's user must pass through to the state directory
  int port = kumo::testing::UnusedPort();
  std::vector<std::string> args = {kumod,
                                   "--state-dir",
                                   dir + "/state",
                                   "--listen",
                                   "127.0.0.1:" + std::to_string(port),
                                   "--ssh-port-base",
                                   "0"};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    rlimit lim{files, files};
    setrlimit(RLIMIT_NOFILE, &lim);
    std::string log = dir + "/kumod.log";
    FILE* out = std::freopen(log.c_str(), "w", stdout);
    if (out) dup2(fileno(out), 2);
    execv(cargs[0], cargs.data());
    _exit(127);
  }
  bool up = false;
  for (int i = 0; i < 100 && !up; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    up = HealthzMs(port) >= 0;
  }
  int status = 0;
  if (!up) {
    std::fprintf(stderr, "kumod did not start; see %s/kumod.log\n", dir.c_str());
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return 1;
  }
  std::vector<int> fds;
  for (int i = 0; i < idle; ++i) {
    int fd = kumo::testing::ConnectLoopback(port);
    if (fd >= 0) fds.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  double cpu0 = kumo::testing::CpuSeconds(pid);
  auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(window_s));
  double share = (kumo::testing::CpuSeconds(pid) - cpu0) /
                 std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> ms;

  for (int i = 0; i < requests; ++i) {
    double m = HealthzMs(port);
    if (m >= 0) ms.push_back(m);
  }
  std::sort(ms.begin(), ms.end());
  std::printf("kumod %s, RLIMIT_NOFILE %lu, %zu idle connections\n", kumod.c_str(),
              static_cast<unsigned long>(files), fds.size());
  std::printf("  CPU over %d s: %.0f%% of a core\n", window_s, share * 100);
  std::printf("  GET /healthz: %zu of %d answered within 5 s", ms.size(), requests);
  if (!ms.empty()) std::printf(", median %.1f ms, max %.1f ms", ms[ms.size() / 2], ms.back());
  std::printf("\n");
  for (int fd : fds) close(fd);
  kill(pid, SIGTERM);
  waitpid(pid, &status, 0);
  std::filesystem::remove_all(dir);
  return 0;
}
