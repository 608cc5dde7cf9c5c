// agent_rss_bench: how much memory a guest agent needs to serve a steady
// stream of requests. Starts each agent on a unix socket in a fresh temporary
// directory, sends it N requests one at a time (reading every reply line),
// then reads VmRSS and VmHWM (peak RSS) from /proc/PID/status.
//
// Exit status: 0 when every agent was measured, 1 on an operational failure
// (an agent did not start or answer). Missing the RSS goal is reported,
// not failed.
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr long kGoalHwmKib = 1536;  // kumo-agent peak RSS goal: 1.5 MiB
constexpr int kDefaultRequests = 2000;

struct Agent {
  std::string name;
  std::string path;
  bool kumo = false;
};

struct Figures {
  int requests = 0;
  int error_replies = 0;
  double per_second = 0;
  long rss_kib = 0;
  long hwm_kib = 0;
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

pid_t Spawn(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::fflush(nullptr);  // the child must not inherit unflushed output
  pid_t pid = fork();
  if (pid == 0) {
    execv(args[0], args.data());
    std::fprintf(stderr, "agent_rss_bench: execv %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  return pid;
}

// SIGTERM, then SIGKILL if the agent is still there after 2 s.
void Stop(pid_t pid) {
  kill(pid, SIGTERM);
  auto deadline = Clock::now() + std::chrono::seconds(2);
  while (Clock::now() < deadline) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

// Connects once the agent has created its socket; gives up after 5 s or when
// the agent exits.
int Connect(const std::string& path, pid_t pid) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  auto deadline = Clock::now() + std::chrono::seconds(5);
  while (Clock::now() < deadline && waitpid(pid, nullptr, WNOHANG) == 0) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) return fd;
    close(fd);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

bool WriteAll(int fd, const std::string& data) {
  for (size_t done = 0; done < data.size();) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += n;
  }
  return true;
}

// Reads one reply line, keeping what follows it in `buffer`.
std::optional<std::string> ReadLine(int fd, std::string& buffer) {
  for (;;) {
    if (size_t end = buffer.find('\n'); end != std::string::npos) {
      std::string line = buffer.substr(0, end);
      buffer.erase(0, end + 1);
      return line;
    }
    char chunk[64 * 1024];
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    buffer.append(chunk, n);
  }
}

// A field of /proc/PID/status in KiB ("VmRSS:     1234 kB"), or -1.
long StatusKib(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::atol(line.c_str() + field.size() + 1);
  }
  return -1;
}

bool Exercise(const Agent& agent, pid_t pid, int fd, int requests, Figures& out) {
  std::vector<std::string> commands = {"guest-ping", "guest-info", "guest-get-osinfo",
                                       "guest-network-get-interfaces"};
  if (agent.kumo) commands.push_back("kumo-health");
  std::string buffer;
  auto start = Clock::now();
  for (int i = 0; i < requests; ++i) {
    const std::string& command = commands[i % commands.size()];
    if (!WriteAll(fd, "{\"execute\":\"" + command + "\"}\n")) return false;
    auto reply = ReadLine(fd, buffer);
    if (!reply) {
      std::fprintf(stderr, "agent_rss_bench: %s closed the connection at request %d (%s)\n",
                   agent.name.c_str(), i, command.c_str());
      return false;
    }
    if (reply->find("\"error\"") != std::string::npos) ++out.error_replies;
  }
  std::chrono::duration<double> elapsed = Clock::now() - start;
  out.requests = requests;
  out.per_second = requests / elapsed.count();
  out.rss_kib = StatusKib(pid, "VmRSS");
  out.hwm_kib = StatusKib(pid, "VmHWM");
  return out.rss_kib >= 0 && out.hwm_kib >= 0;
}

std::optional<Figures> Measure(const Agent& agent, int requests) {
  char dir_template[] = "/tmp/kumo-rss-bench-XXXXXX";
  if (!mkdtemp(dir_template)) {
    std::perror("agent_rss_bench: mkdtemp");
    return std::nullopt;
  }
  std::string dir = dir_template;
  pid_t pid = Spawn(AgentArgv(agent, dir));
  std::optional<Figures> result;
  if (pid < 0) {
    std::perror("agent_rss_bench: fork");
  } else if (int fd = Connect(dir + "/agent.sock", pid); fd < 0) {
    std::fprintf(stderr, "agent_rss_bench: %s did not listen on %s/agent.sock\n",
                 agent.name.c_str(), dir.c_str());
  } else {
    Figures figures;
    if (Exercise(agent, pid, fd, requests, figures)) result = figures;
    close(fd);
  }
  if (pid > 0) Stop(pid);
  std::error_code ignored;
  fs::remove_all(dir, ignored);
  return result;
}

std::string DefaultQemuGa() {
  for (const char* path : {"/usr/bin/qemu-ga", "/usr/sbin/qemu-ga"}) {
    if (access(path, X_OK) == 0) return path;
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  std::string agent_path = KUMO_AGENT_PATH;
  std::string qemu_ga_path = DefaultQemuGa();
  int requests = kDefaultRequests;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (i + 1 < argc && arg == "--agent") {
      agent_path = argv[++i];
    } else if (i + 1 < argc && arg == "--qemu-ga") {
      qemu_ga_path = argv[++i];
    } else if (i + 1 < argc && arg == "--requests") {
      requests = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr,
                   "usage: agent_rss_bench [--agent PATH] [--qemu-ga PATH|\"\"] [--requests N]\n");
      return 2;
    }
  }
  if (requests <= 0) {
    std::fprintf(stderr, "agent_rss_bench: --requests must be positive\n");
    return 2;
  }

  std::vector<Agent> agents = {{"kumo-agent", agent_path, true}};
  if (!qemu_ga_path.empty()) agents.push_back({"qemu-ga", qemu_ga_path, false});

  signal(SIGPIPE, SIG_IGN);
  bool ok = true;
  std::optional<long> kumo_hwm;
  std::printf("%-12s %9s %10s %11s %11s\n", "agent", "requests", "req/s", "VmRSS KiB", "VmHWM KiB");
  for (const Agent& agent : agents) {
    auto figures = Measure(agent, requests);
    if (!figures) {
      std::printf("%-12s  failed (%s)\n", agent.name.c_str(), agent.path.c_str());
      ok = false;
      continue;
    }
    std::printf("%-12s %9d %10.0f %11ld %11ld\n", agent.name.c_str(), figures->requests,
                figures->per_second, figures->rss_kib, figures->hwm_kib);
    if (figures->error_replies > 0) {
      std::printf("%-12s   (%d error replies)\n", "", figures->error_replies);
    }
    if (agent.kumo) kumo_hwm = figures->hwm_kib;
  }

  std::error_code size_error;
  auto size = fs::file_size(agent_path, size_error);
  if (!size_error) {
    std::printf("\nkumo-agent binary: %ju bytes (%ju KiB), %s\n", static_cast<uintmax_t>(size),
                static_cast<uintmax_t>(size / 1024), agent_path.c_str());
  }
  if (kumo_hwm) {
    std::printf("kumo-agent peak RSS: %ld KiB, goal <= %ld KiB: %s\n", *kumo_hwm, kGoalHwmKib,
                *kumo_hwm <= kGoalHwmKib ? "met" : "MISSED");
  }
  return ok ? 0 : 1;
}
