#include "agent/exec_manager.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/base64.h"

namespace kumo::agent {
namespace {

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

}  // namespace

ExecManager::~ExecManager() {
  for (auto& [pid, p] : processes_) CloseAll(p);
}

void ExecManager::CloseAll(Process& p) {
  CloseFd(p.stdin_fd);
  CloseFd(p.out.fd);
  CloseFd(p.err.fd);
}

std::optional<pid_t> ExecManager::Start(SpawnRequest request, std::string input, std::string* err) {
  if (processes_.size() >= kMaxTracked) ForgetOldestFinished();
  if (processes_.size() >= kMaxTracked) {
    *err = "too many guest-exec processes are running (limit " + std::to_string(kMaxTracked) + ")";
    return std::nullopt;
  }
  request.pipe_stdin = !input.empty();
  SpawnedProcess child;
  if (!Spawn(request, &child, err)) return std::nullopt;
  Process p;
  p.capture = request.pipe_output;
  p.stdin_fd = child.stdin_fd;
  p.input = std::move(input);
  p.out.fd = child.stdout_fd;
  p.err.fd = child.stderr_fd;
  WriteInput(p);
  processes_[child.pid] = std::move(p);
  return child.pid;
}

void ExecManager::ForgetOldestFinished() {
  for (auto it = processes_.begin(); it != processes_.end(); ++it) {
    if (it->second.exited) {
      CloseAll(it->second);
      processes_.erase(it);
      return;
    }
  }
}

void ExecManager::WriteInput(Process& p) {
  while (p.stdin_fd >= 0 && p.input_written < p.input.size()) {
    ssize_t n =
        write(p.stdin_fd, p.input.data() + p.input_written, p.input.size() - p.input_written);
    if (n > 0) {
      p.input_written += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      return;
    } else {
      break;  // EPIPE: the child does not read its input
    }
  }
  CloseFd(p.stdin_fd);
  p.input.clear();
  p.input.shrink_to_fit();
}

void ExecManager::Drain(Stream& s) {
  char buf[4096];
  while (s.fd >= 0) {
    ssize_t n = read(s.fd, buf, sizeof buf);
    if (n > 0) {
      size_t room = kMaxCapturedBytes - s.data.size();
      size_t take = std::min(room, static_cast<size_t>(n));
      s.data.append(buf, take);
      if (take < static_cast<size_t>(n)) s.truncated = true;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      return;
    } else {
      CloseFd(s.fd);  // EOF or error
    }
  }
}

void ExecManager::PollFds(std::vector<pollfd>& fds) const {
  for (const auto& [pid, p] : processes_) {
    if (p.stdin_fd >= 0) fds.push_back({p.stdin_fd, POLLOUT, 0});
    if (p.out.fd >= 0) fds.push_back({p.out.fd, POLLIN, 0});
    if (p.err.fd >= 0) fds.push_back({p.err.fd, POLLIN, 0});
  }
}

void ExecManager::OnReady(const pollfd& ready) {
  for (auto& [pid, p] : processes_) {
    if (ready.fd == p.stdin_fd)
      WriteInput(p);
    else if (ready.fd == p.out.fd)
      Drain(p.out);
    else if (ready.fd == p.err.fd)
      Drain(p.err);
    else
      continue;
    return;
  }
}

void ExecManager::ReapChildren() {
  for (auto& [pid, p] : processes_) {
    if (p.exited) continue;
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r != pid) continue;
    p.exited = true;
    if (WIFEXITED(status)) p.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) p.signal = WTERMSIG(status);
    // Take what the process wrote before it ended; a grandchild holding the
    // pipe open must not keep the status pending forever.
    Drain(p.out);
    Drain(p.err);
    CloseAll(p);
  }
}

std::optional<nlohmann::json> ExecManager::Status(pid_t pid) {
  auto it = processes_.find(pid);
  if (it == processes_.end()) return std::nullopt;
  Process& p = it->second;
  if (!p.exited) return nlohmann::json{{"exited", false}};
  nlohmann::json status = {{"exited", true}};
  if (p.signal) {
    status["signal"] = p.signal;
  } else {
    status["exitcode"] = p.exit_code;
  }
  if (p.capture) {
    status["out-data"] = Base64Encode(p.out.data);
    status["err-data"] = Base64Encode(p.err.data);
    if (p.out.truncated) status["out-truncated"] = true;
    if (p.err.truncated) status["err-truncated"] = true;
  }
  processes_.erase(it);
  return status;
}

}  // namespace kumo::agent
