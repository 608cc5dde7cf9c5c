#include "hypervisor/spawn.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

extern char** environ;

namespace kumo::hypervisor {
namespace {

// What the child reports through its pipe when it cannot exec.
struct ChildFailure {
  int step;
  int error;
};
enum Step { kSession = 1, kIdentity, kStdio, kOutput, kFds, kExec, kDetached };

const char* StepName(int step) {
  switch (step) {
    case kSession:
      return "cannot start a new session";
    case kIdentity:
      return "cannot change to the unprivileged user";
    case kStdio:
      return "cannot open /dev/null";
    case kOutput:
      return "cannot open its log file";
    case kFds:
      return "cannot pass it its files";
    case kDetached:
      return "cannot detach it";
    default:
      return "cannot start";
  }
}

// argv[0] as execve needs it: a path, looked up in PATH if it has no '/'.
std::string ResolveBinary(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* env = std::getenv("PATH");
  std::string path = env && *env ? env : "/usr/local/bin:/usr/bin:/bin";
  for (size_t start = 0; start <= path.size();) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = end > start ? path.substr(start, end - start) : ".";
    std::string candidate = dir + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return name;
}

// In the child between fork and exec: async-signal-safe calls only, no
// allocation. Never returns.
[[noreturn]] void RunChild(int report_fd, const char* binary, char* const* args,
                           const char* output_path, const SpawnOptions& options) {
  auto fail = [report_fd](int step) {
    ChildFailure f{step, errno};
    ssize_t ignored = write(report_fd, &f, sizeof f);
    (void)ignored;
    _exit(127);
  };
  const int n = static_cast<int>(options.inherit_fds.size());
  int report = fcntl(report_fd, F_DUPFD_CLOEXEC, 3 + n);
  if (report < 0) fail(kFds);
  report_fd = report;

  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);
  if (setsid() < 0) fail(kSession);
  if (options.detach) {
    // The program becomes a grandchild, which init (or a subreaper) adopts.
    pid_t grandchild = fork();
    if (grandchild < 0) fail(kDetached);
    if (grandchild > 0) {
      ChildFailure detached{kDetached, grandchild};
      ssize_t ignored = write(report_fd, &detached, sizeof detached);
      (void)ignored;
      _exit(0);
    }
  }
  if (options.run_as) {
    // Raw system calls: this process has one thread, and glibc's wrappers
    // would try to change the identity of the parent's other threads too.
    gid_t gid = options.run_as->gid;
    uid_t uid = options.run_as->uid;
    if (syscall(SYS_setgroups, 0, nullptr) != 0) fail(kIdentity);
    if (syscall(SYS_setresgid, gid, gid, gid) != 0) fail(kIdentity);
    if (syscall(SYS_setresuid, uid, uid, uid) != 0) fail(kIdentity);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(kIdentity);
  }
  // After the identity change, which clears it.
  if (options.die_with_kumod && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) fail(kSession);
  umask(077);

  int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (in < 0 || dup2(in, 0) < 0) fail(kStdio);
  int out = options.output_fd >= 0
                ? options.output_fd
                : open(output_path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0) fail(kOutput);
  if (dup2(out, 1) < 0 || dup2(out, 2) < 0) fail(kOutput);
  if (in > 2) close(in);
  if (out > 2 && out != options.output_fd) close(out);

  // Above the targets first, so that no dup2 below overwrites a source.
  int moved[64];
  if (n > 64) fail(kFds);
  for (int i = 0; i < n; ++i) {
    moved[i] = fcntl(options.inherit_fds[static_cast<size_t>(i)], F_DUPFD_CLOEXEC, 3 + n);
    if (moved[i] < 0) fail(kFds);
  }
  for (int i = 0; i < n; ++i) {
    if (dup2(moved[i], 3 + i) < 0) fail(kFds);
  }
  // Everything else closes at exec; the report pipe stays open until then.
  if (syscall(SYS_close_range, 3 + n, ~0U, CLOSE_RANGE_CLOEXEC) != 0) fail(kFds);

  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  execve(binary, args, environ);
  fail(kExec);
  _exit(127);
}

}  // namespace

Result<pid_t> SpawnProcess(const std::vector<std::string>& argv, const std::string& output_path,
                           const SpawnOptions& options) {
  if (argv.empty()) return Status(codes::kInternal, "SpawnProcess: empty argv");
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const std::string binary = ResolveBinary(argv[0]);

  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    return Status(codes::kHypervisorError, std::string("pipe2: ") + strerror(errno));
  }
  // The child must not run kumod's signal handlers before it resets them.
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = fork();
  if (pid == 0) {
    close(report[0]);
    RunChild(report[1], binary.c_str(), args.data(), output_path.c_str(), options);
  }
  int fork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  close(report[1]);
  if (pid < 0) {
    close(report[0]);
    return Status(codes::kHypervisorError,
                  "cannot start " + argv[0] + ": fork: " + strerror(fork_errno));
  }
  auto next = [fd = report[0]](ChildFailure* f) {
    ssize_t n;
    do {
      n = read(fd, f, sizeof *f);
    } while (n < 0 && errno == EINTR);
    return n == static_cast<ssize_t>(sizeof *f);
  };
  ChildFailure failure{};
  bool reported = next(&failure);
  if (options.detach && reported && failure.step == kDetached) {
    waitpid(pid, nullptr, 0);  // the intermediate child
    pid = failure.error;
    reported = next(&failure);
    if (!reported) {
      close(report[0]);
      return pid;  // exec'd
    }
  }
  close(report[0]);
  if (!reported) return pid;  // exec'd: the pipe closed empty
  if (!options.detach) waitpid(pid, nullptr, 0);
  std::string message =
      "cannot start " + argv[0] + ": " + StepName(failure.step) + ": " + strerror(failure.error);
  if (failure.step == kExec) {
    return Status(codes::kHypervisorError, message,
                  "check that " + argv[0] + " is installed and executable");
  }
  return Status(codes::kHypervisorError, message);
}

std::string ReadTail(const std::string& path, off_t offset, size_t max_bytes) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  off_t end = lseek(fd, 0, SEEK_END);
  off_t start = std::max(offset, end - static_cast<off_t>(max_bytes));
  std::string text;
  if (end > start) {
    text.resize(static_cast<size_t>(end - start));
    ssize_t n = pread(fd, text.data(), text.size(), start);
    text.resize(n > 0 ? static_cast<size_t>(n) : 0);
  }
  close(fd);
  if (start > offset) {
    size_t newline = text.find('\n');
    if (newline != std::string::npos) text.erase(0, newline + 1);
  }
  size_t first = text.find_first_not_of(" \t\r\n");
  size_t last = text.find_last_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  return text.substr(first, last - first + 1);
}

}  // namespace kumo::hypervisor
