// agent_bench: kumo-agent side by side with Debian's qemu-ga, both serving a
// unix socket on the host (kumo-agent --listen unix:SOCK, qemu-ga -m
// unix-listen), with the same requests: sequential guest-ping round trips
// (p50, p99), pipelined guest-pings (N written before a reply is read), a
// mix of information commands both agents implement, kumo-health alone
// (kumo-agent only), peak RSS under that load, RSS after hostile
// input (an oversized line, garbage, deep nesting; the agent must still
// answer), and CPU seconds per 100k guest-pings (utime + stime).
//
// Exit status: 0 when every agent was measured, 1 on an operational failure
// (an agent did not start or answer), 2 on bad usage. Missed goals are
// reported, not failed.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench_figures.h"
#include "support/child_process.h"
#include "support/host_probe.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using kumo::testing::ReadFile;
using json = nlohmann::json;

constexpr long kGoalHwmKib = 1536;  // kumo-agent peak RSS goal: 1.5 MiB

struct Options {
  int requests = 2000;    // sequential pings, and mixed requests
  int pipelined = 20000;  // pings written before the first reply is read
};

struct Agent {
  std::string name;
  std::string path;
  bool kumo = false;
};

std::vector<std::string> AgentArgv(const Agent& agent, const std::string& dir) {
  std::string sock = dir + "/agent.sock";
  if (agent.kumo) return {agent.path, "--listen", "unix:" + sock, "--allow-exec"};
  return {agent.path,
          "-m",
          "unix-listen",
          "-p",
          sock,
          "-t",
          dir,
          "-f",
          dir + "/qemu-ga.pid",
          "-b",
          "guest-shutdown,guest-set-user-password"};
}

// A connection to the agent's socket, with the bytes read past the last line.
struct Link {
  int fd = -1;
  std::string buffer;
  ~Link() { Close(); }
  void Close() {
    if (fd >= 0) close(fd);
    fd = -1;
    buffer.clear();
  }
};

// Connects once the agent has created its socket; false after 5 s.
bool Connect(const std::string& path, Link& link) {
  link.Close();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  for (auto deadline = Clock::now() + std::chrono::seconds(5); Clock::now() < deadline;) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      link.fd = fd;
      return true;
    }
    close(fd);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

bool WriteAll(int fd, const std::string& data) {
  for (size_t done = 0; done < data.size();) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// One reply line; nullopt on EOF, error, or nothing for `timeout_ms`.
std::optional<std::string> ReadLine(Link& link, int timeout_ms = 10000) {
  for (;;) {
    if (size_t end = link.buffer.find('\n'); end != std::string::npos) {
      std::string line = link.buffer.substr(0, end);
      link.buffer.erase(0, end + 1);
      return line;
    }
    pollfd p{link.fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return std::nullopt;
    char chunk[64 * 1024];
    ssize_t n = read(link.fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    link.buffer.append(chunk, static_cast<size_t>(n));
  }
}

double Us(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

const std::string kPing = "{\"execute\":\"guest-ping\"}\n";

// Sequential guest-pings: each written after the previous reply arrived.
bool Sequential(Link& link, int n, json& out) {
  std::vector<double> rtt;
  rtt.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto start = Clock::now();
    if (!WriteAll(link.fd, kPing) || !ReadLine(link)) return false;
    rtt.push_back(Us(Clock::now() - start));
  }
  out["ping_p50_us"] = kumo::bench::Percentile(rtt, 0.5);
  out["ping_p99_us"] = kumo::bench::Percentile(rtt, 0.99);
  return true;
}

// `n` guest-pings written by one thread while this one reads the replies.
bool Pipelined(Link& link, int n, json& out) {
  std::string batch;
  for (int i = 0; i < n; ++i) batch += kPing;
  auto start = Clock::now();
  bool written = false;
  std::thread writer([&] { written = WriteAll(link.fd, batch); });
  int replies = 0;
  while (replies < n && ReadLine(link)) ++replies;
  writer.join();
  out["pipelined_per_s"] = replies / (Us(Clock::now() - start) / 1e6);
  return written && replies == n;
}

// `n` requests one at a time, cycling through `commands`: requests per
// second into out[prefix + "_per_s"], error replies into
// out[prefix + "_error_replies"].
bool OneAtATime(Link& link, const std::vector<std::string>& commands, int n,
                const std::string& prefix, json& out) {
  int errors = 0;
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    const std::string& command = commands[static_cast<size_t>(i) % commands.size()];
    if (!WriteAll(link.fd, "{\"execute\":\"" + command + "\"}\n")) return false;
    auto reply = ReadLine(link);
    if (!reply) return false;
    errors += reply->find("\"error\"") != std::string::npos;
  }
  out[prefix + "_per_s"] = n / (Us(Clock::now() - start) / 1e6);
  out[prefix + "_error_replies"] = errors;
  return true;
}

// The information commands both agents implement, so that the two figures
// compare the same work.
const std::vector<std::string> kMixedCommands = {"guest-ping", "guest-info", "guest-get-osinfo",
                                                 "guest-network-get-interfaces"};

// kumo-health (kumo-agent only) is timed apart: it scans /proc for sshd, and
// on the host that is the whole machine's processes, not a guest's few.
bool Information(const Agent& agent, Link& link, int n, json& out) {
  if (!OneAtATime(link, kMixedCommands, n, "mixed", out)) return false;
  out["mixed_commands"] = kMixedCommands;
  if (!agent.kumo) return true;
  const int health_requests = std::max(1, n / 10);
  out["health_requests"] = health_requests;
  return OneAtATime(link, {"kumo-health"}, health_requests, "health", out);
}

// Sends each hostile input, then a guest-sync with a fresh id, reading
// whatever comes back (reconnecting if the agent hung up on it) until that
// id is returned.
// Returns how many of the inputs the agent still answered after.
int Hostile(const std::string& socket, Link& link) {
  std::vector<std::string> inputs = {
      "{\"execute\":\"guest-ping\",\"arguments\":{\"pad\":\"" + std::string(4 << 20, 'a') +
          "\"}}\n",
      "{\"execute\": nonsense, ]]\n",
      std::string("\x01\x02\x03 not json at all \xfe\n"),
      std::string(10000, '[') + std::string(10000, ']') + "\n",
  };
  int answered = 0;
  int id = 7000;
  for (const std::string& input : inputs) {
    const std::string sync =
        "{\"execute\":\"guest-sync\",\"arguments\":{\"id\":" + std::to_string(++id) + "}}\n";
    (void)WriteAll(link.fd, input);
    bool ok = false;
    for (int attempt = 0; attempt < 2 && !ok; ++attempt) {
      if (attempt == 1 && !Connect(socket, link)) break;
      if (!WriteAll(link.fd, sync)) continue;
      auto deadline = Clock::now() + std::chrono::seconds(10);
      while (!ok && Clock::now() < deadline) {
        auto line = ReadLine(link, 2000);
        if (!line) break;
        ok = line->find("\"return\"") != std::string::npos &&
             line->find(std::to_string(id)) != std::string::npos;
      }
    }
    answered += ok;
  }
  return answered;
}

std::optional<json> Measure(const Agent& agent, const Options& options) {
  kumo::testing::TempDir dir;
  const std::string socket = dir / "agent.sock";
  kumo::testing::ChildProcess process;
  std::string err;
  if (!process.Start(AgentArgv(agent, dir.path().string()), dir / "agent.log", &err)) {
    std::fprintf(stderr, "agent_bench: %s: %s\n", agent.name.c_str(), err.c_str());
    return std::nullopt;
  }
  const pid_t pid = process.pid();
  Link link;
  json out;
  if (!Connect(socket, link)) {
    std::fprintf(stderr, "agent_bench: %s did not listen on %s\n", agent.name.c_str(),
                 socket.c_str());
    return std::nullopt;
  }
  const double cpu_before = kumo::testing::CpuSeconds(pid);
  if (!Sequential(link, options.requests, out) || !Pipelined(link, options.pipelined, out)) {
    std::fprintf(stderr, "agent_bench: %s stopped answering guest-ping\n", agent.name.c_str());
    return std::nullopt;
  }
  const double pings = options.requests + options.pipelined;
  out["cpu_s_per_100k"] = (kumo::testing::CpuSeconds(pid) - cpu_before) / pings * 1e5;
  if (!Information(agent, link, options.requests, out)) {
    std::fprintf(stderr, "agent_bench: %s stopped answering the mix\n", agent.name.c_str());
    return std::nullopt;
  }
  out["hwm_kib_load"] = kumo::bench::StatusKib(pid, "VmHWM");
  out["rss_kib_load"] = kumo::bench::StatusKib(pid, "VmRSS");
  out["hostile_answered"] = Hostile(socket, link);
  out["hostile_inputs"] = 4;
  out["rss_kib_after_hostile"] = kumo::bench::StatusKib(pid, "VmRSS");
  out["hwm_kib_after_hostile"] = kumo::bench::StatusKib(pid, "VmHWM");
  out["alive_after_hostile"] = process.running();
  out["requests"] = options.requests;
  out["pipelined"] = options.pipelined;
  return out;
}

std::string DefaultQemuGa() {
  for (const char* path : {"/usr/bin/qemu-ga", "/usr/sbin/qemu-ga"}) {
    if (access(path, X_OK) == 0) return path;
  }
  return "";
}

void Print(const std::string& name, const json& f) {
  const std::string health = f.contains("health_per_s")
                                 ? std::to_string(std::lround(f["health_per_s"].get<double>()))
                                 : "-";
  std::printf("%-11s %9.0f %9.0f %11.0f %10.0f %9s %9ld %9ld %9ld %6d/%d %9.2f\n", name.c_str(),
              f["ping_p50_us"].get<double>(), f["ping_p99_us"].get<double>(),
              f["pipelined_per_s"].get<double>(), f["mixed_per_s"].get<double>(), health.c_str(),
              f["hwm_kib_load"].get<long>(), f["rss_kib_after_hostile"].get<long>(),
              f["hwm_kib_after_hostile"].get<long>(), f["hostile_answered"].get<int>(),
              f["hostile_inputs"].get<int>(), f["cpu_s_per_100k"].get<double>());
}

}  // namespace

int main(int argc, char** argv) {
  std::string agent_path = KUMO_AGENT_PATH;
  std::string qemu_ga_path = DefaultQemuGa();
  std::string json_path;
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (i + 1 < argc && arg == "--agent") {
      agent_path = argv[++i];
    } else if (i + 1 < argc && arg == "--qemu-ga") {
      qemu_ga_path = argv[++i];
    } else if (i + 1 < argc && arg == "--requests") {
      options.requests = std::atoi(argv[++i]);
    } else if (i + 1 < argc && arg == "--pipelined") {
      options.pipelined = std::atoi(argv[++i]);
    } else if (i + 1 < argc && arg == "--json") {
      json_path = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: agent_bench [--agent PATH] [--qemu-ga PATH|\"\"] [--requests N] "
                   "[--pipelined N] [--json PATH]\n");
      return 2;
    }
  }
  if (options.requests <= 0 || options.pipelined <= 0) {
    std::fprintf(stderr, "agent_bench: --requests and --pipelined must be positive\n");
    return 2;
  }

  std::vector<Agent> agents = {{"kumo-agent", agent_path, true}};
  if (!qemu_ga_path.empty()) agents.push_back({"qemu-ga", qemu_ga_path, false});

  signal(SIGPIPE, SIG_IGN);
  bool ok = true;
  json figures = {{"bench", "agent"}, {"agents", json::object()}};
  std::printf("%-11s %9s %9s %11s %10s %9s %9s %9s %9s %8s %9s\n", "agent", "ping p50", "ping p99",
              "pipelined", "mixed", "health", "HWM load", "RSS host", "HWM host", "answers",
              "CPU s");
  std::printf("%-11s %9s %9s %11s %10s %9s %9s %9s %9s %8s %9s\n", "", "us", "us", "req/s", "req/s",
              "req/s", "KiB", "KiB", "KiB", "hostile", "/100k");
  for (const Agent& agent : agents) {
    auto f = Measure(agent, options);
    if (!f) {
      std::printf("%-11s  failed (%s)\n", agent.name.c_str(), agent.path.c_str());
      ok = false;
      continue;
    }
    Print(agent.name, *f);
    figures["agents"][agent.name] = *f;
  }

  std::error_code size_error;
  auto size = fs::file_size(agent_path, size_error);
  if (!size_error) {
    figures["kumo_agent_bytes"] = size;
    std::printf("\nkumo-agent binary: %ju bytes (%ju KiB), %s\n", static_cast<uintmax_t>(size),
                static_cast<uintmax_t>(size / 1024), agent_path.c_str());
  }
  if (figures["agents"].contains("kumo-agent")) {
    long hwm = figures["agents"]["kumo-agent"]["hwm_kib_after_hostile"].get<long>();
    std::printf("kumo-agent peak RSS: %ld KiB, goal <= %ld KiB: %s\n", hwm, kGoalHwmKib,
                hwm <= kGoalHwmKib ? "met" : "MISSED");
  }
  if (!kumo::bench::WriteFigures(json_path, figures)) ok = false;
  return ok ? 0 : 1;
}
