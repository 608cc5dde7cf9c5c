#include "cloudinit/seed_image.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace kumo::cloudinit {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kProgram[] = "genisoimage";
constexpr size_t kMaxErrorBytes = 4096;

Status Failed(const std::string& message, const std::string& hint = "") {
  return Status(codes::kInternal, "cannot build the seed image: " + message, hint);
}

// In the child, between fork and exec: only async-signal-safe calls.
[[noreturn]] void ExecChild(char* const argv[], int null_fd, int err_fd) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  umask(077);
  if (dup2(null_fd, 0) < 0 || dup2(null_fd, 1) < 0 || dup2(err_fd, 2) < 0) _exit(126);
  close_range(3, ~0U, 0);
  execvp(argv[0], argv);
  const char* why = errno == ENOENT ? "genisoimage: not found\n" : "genisoimage: cannot run it\n";
  (void)!write(2, why, strlen(why));
  _exit(127);
}

// Reads the child's stderr until EOF or the deadline; keeps the last part.
bool ReadUntilEof(int fd, Clock::time_point deadline, std::string* out) {
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;
    out->append(buf, static_cast<size_t>(n));
    if (out->size() > 2 * kMaxErrorBytes) out->erase(0, out->size() - kMaxErrorBytes);
  }
}

// Reaps `pid` if it exits before the deadline.
bool WaitUntil(pid_t pid, Clock::time_point deadline, int* status) {
  for (;;) {
    pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid) return true;
    if (r < 0 && errno != EINTR) {  // reaped by someone else: outcome unknown
      *status = -1;
      return true;
    }
    if (Clock::now() >= deadline) return false;
    usleep(2000);
  }
}

std::string Trimmed(std::string s) {
  if (s.size() > kMaxErrorBytes) s.erase(0, s.size() - kMaxErrorBytes);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

Status BuildSeedImage(const std::string& dir, const std::string& image_path,
                      std::chrono::milliseconds timeout) {
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Failed("the seed directory " + dir + " does not exist");
  }
  const std::string tmp = image_path + ".tmp";
  unlink(tmp.c_str());
  std::vector<std::string> args = {kProgram,      "-quiet",  "-output", tmp, "-volid",
                                   kSeedVolumeId, "-joliet", "-rock",   dir};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) return Failed(std::string("/dev/null: ") + std::strerror(errno));
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    close(null_fd);
    return Failed(std::string("pipe: ") + std::strerror(errno));
  }
  pid_t pid = fork();
  if (pid == 0) ExecChild(argv.data(), null_fd, pipe_fds[1]);
  int fork_errno = errno;
  close(null_fd);
  close(pipe_fds[1]);
  if (pid < 0) {
    close(pipe_fds[0]);
    return Failed(std::string("fork: ") + std::strerror(fork_errno));
  }

  const auto deadline = Clock::now() + timeout;
  std::string errors;
  bool in_time = ReadUntilEof(pipe_fds[0], deadline, &errors);
  close(pipe_fds[0]);
  int status = 0;
  in_time = in_time && WaitUntil(pid, deadline, &status);
  if (!in_time) {
    kill(pid, SIGKILL);  // our own child, by its pid
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    unlink(tmp.c_str());
    return Failed("genisoimage did not finish within " + std::to_string(timeout.count()) + " ms");
  }
  if (status == -1) {
    unlink(tmp.c_str());
    return Failed("lost track of genisoimage (pid " + std::to_string(pid) + ")");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    unlink(tmp.c_str());
    std::string why = Trimmed(errors);
    if (why.empty()) {
      why = WIFEXITED(status)
                ? "genisoimage exited with status " + std::to_string(WEXITSTATUS(status))
                : "genisoimage was killed by signal " + std::to_string(WTERMSIG(status));
    }
    std::string hint = WIFEXITED(status) && WEXITSTATUS(status) == 127
                           ? "install genisoimage (scripts/install-deps.sh)"
                           : "";
    return Failed(why, hint);
  }
  if (chmod(tmp.c_str(), 0600) != 0 || rename(tmp.c_str(), image_path.c_str()) != 0) {
    int e = errno;
    unlink(tmp.c_str());
    return Failed(image_path + ": " + std::strerror(e));
  }
  return Status::Ok();
}

}  // namespace kumo::cloudinit
