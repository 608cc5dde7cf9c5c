// ExecManager runs guest-exec processes and keeps their status for
// guest-exec-status, like qemu-ga: output is collected in memory (bounded),
// and a finished process's status is handed out once, then forgotten.
//
// It never blocks: the agent's poll loop feeds it readiness on the child
// pipes (PollFds/OnReady) and tells it when SIGCHLD arrived (ReapChildren).
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "agent/process.h"

namespace kumo::agent {

class ExecManager {
 public:
  // Captured output per stream; beyond this it is dropped and flagged
  // truncated. Two streams base64-encoded stay well inside one 1 MiB reply.
  static constexpr size_t kMaxCapturedBytes = 256 * 1024;
  // Finished processes whose status nobody has collected yet.
  static constexpr size_t kMaxTracked = 64;

  ExecManager() = default;
  ExecManager(const ExecManager&) = delete;
  ExecManager& operator=(const ExecManager&) = delete;
  ~ExecManager();

  // Starts a process; returns its pid or nullopt with `err` set.
  std::optional<pid_t> Start(SpawnRequest request, std::string input, std::string* err);

  // guest-exec-status's reply for `pid`, or nullopt if the pid is unknown.
  std::optional<nlohmann::json> Status(pid_t pid);

  void PollFds(std::vector<pollfd>& fds) const;
  void OnReady(const pollfd& ready);
  void ReapChildren();

  size_t tracked() const { return processes_.size(); }

 private:
  struct Stream {
    int fd = -1;
    std::string data;
    bool truncated = false;
  };
  struct Process {
    bool capture = false;
    int stdin_fd = -1;
    std::string input;
    size_t input_written = 0;
    Stream out, err;
    bool exited = false;
    int exit_code = 0;
    int signal = 0;
  };

  static void Drain(Stream& stream);
  static void WriteInput(Process& p);
  static void CloseAll(Process& p);
  void ForgetOldestFinished();

  std::map<pid_t, Process> processes_;
};

}  // namespace kumo::agent
