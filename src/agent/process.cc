#include "agent/process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

namespace kumo::agent {
namespace {

void CloseIf(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

std::vector<char*> CStrings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// Runs in the forked child: only async-signal-safe calls from here on.
[[noreturn]] void ExecChild(char* const* argv, char* const* envp, int in_fd, int out_fd, int err_fd,
                            int report_fd) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGPIPE, SIG_DFL);
  // The agent shields itself from the OOM killer; what it runs must not be
  // shielded too, or a runaway command leaves the killer nothing to kill.
  int adj_fd = open("/proc/self/oom_score_adj", O_WRONLY);
  if (adj_fd >= 0) {
    (void)!write(adj_fd, "0", 1);
    close(adj_fd);
  }
  int null_fd = open("/dev/null", O_RDWR);
  dup2(in_fd >= 0 ? in_fd : null_fd, 0);
  dup2(out_fd >= 0 ? out_fd : null_fd, 1);
  dup2(err_fd >= 0 ? err_fd : null_fd, 2);
  if (envp) {
    execvpe(argv[0], argv, envp);
  } else {
    execvp(argv[0], argv);
  }
  int e = errno;
  (void)!write(report_fd, &e, sizeof e);
  _exit(127);
}

}  // namespace

bool Spawn(const SpawnRequest& request, SpawnedProcess* out, std::string* err) {
  if (request.argv.empty() || request.argv[0].empty()) {
    *err = "no program given";
    return false;
  }
  int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1}, report[2];
  auto fail = [&](const char* what) {
    *err = std::string(what) + ": " + strerror(errno);
    for (int* p : {in_pipe, out_pipe, err_pipe}) {
      CloseIf(p[0]);
      CloseIf(p[1]);
    }
    return false;
  };
  if (request.pipe_stdin && pipe2(in_pipe, O_CLOEXEC) != 0) return fail("pipe");
  if (request.pipe_output && (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0)) {
    return fail("pipe");
  }
  if (pipe2(report, O_CLOEXEC) != 0) return fail("pipe");

  auto argv = CStrings(request.argv);
  std::vector<char*> envp;
  if (request.env) envp = CStrings(*request.env);

  pid_t pid = fork();
  if (pid < 0) {
    close(report[0]);
    close(report[1]);
    return fail("fork");
  }
  if (pid == 0) {
    ExecChild(argv.data(), request.env ? envp.data() : nullptr, in_pipe[0], out_pipe[1],
              err_pipe[1], report[1]);
  }
  close(report[1]);
  CloseIf(in_pipe[0]);
  CloseIf(out_pipe[1]);
  CloseIf(err_pipe[1]);

  int child_errno = 0;
  ssize_t n;
  do {
    n = read(report[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n == sizeof child_errno) {
    waitpid(pid, nullptr, 0);
    CloseIf(in_pipe[1]);
    CloseIf(out_pipe[0]);
    CloseIf(err_pipe[0]);
    *err = "Failed to execute child process \"" + request.argv[0] + "\" (" + strerror(child_errno) +
           ")";
    return false;
  }
  for (int fd : {in_pipe[1], out_pipe[0], err_pipe[0]}) {
    if (fd >= 0) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  *out = SpawnedProcess{pid, in_pipe[1], out_pipe[0], err_pipe[0]};
  return true;
}

bool RunToCompletion(const std::vector<std::string>& argv, const std::string& input,
                     std::chrono::milliseconds deadline, RunOutcome* outcome, std::string* err) {
  SpawnedProcess child;
  if (!Spawn({argv, std::nullopt, /*pipe_stdin=*/true, /*pipe_output=*/false}, &child, err)) {
    return false;
  }
  // Helper input is a line or two: it fits the pipe buffer, so this never blocks.
  size_t written = 0;
  while (written < input.size()) {
    ssize_t n = write(child.stdin_fd, input.data() + written, input.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  close(child.stdin_fd);

  const auto give_up = std::chrono::steady_clock::now() + deadline;
  int status = 0;
  for (;;) {
    pid_t r = waitpid(child.pid, &status, WNOHANG);
    if (r == child.pid) break;
    if (r < 0 && errno != EINTR) {
      *err = std::string("waitpid: ") + strerror(errno);
      return false;
    }
    if (std::chrono::steady_clock::now() >= give_up) {
      kill(child.pid, SIGKILL);
      waitpid(child.pid, &status, 0);
      *outcome = RunOutcome{false, -1, SIGKILL};
      return true;
    }
    struct timespec tick = {0, 5 * 1000 * 1000};
    nanosleep(&tick, nullptr);
  }
  if (WIFEXITED(status)) {
    *outcome = RunOutcome{true, WEXITSTATUS(status), 0};
  } else {
    *outcome = RunOutcome{true, -1, WIFSIGNALED(status) ? WTERMSIG(status) : 0};
  }
  return true;
}

}  // namespace kumo::agent
