// Child processes for the agent: spawned with an argv (never a shell), with
// optional pipes, and a way to run a short helper (chpasswd, poweroff) to
// completion with a deadline.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace kumo::agent {

struct SpawnRequest {
  std::vector<std::string> argv;                // argv[0] is looked up in PATH
  std::optional<std::vector<std::string>> env;  // nullopt: inherit the agent's
  bool pipe_stdin = false;                      // else stdin is /dev/null
  bool pipe_output = false;                     // else stdout/stderr go to /dev/null
};

struct SpawnedProcess {
  pid_t pid = -1;
  int stdin_fd = -1;  // non-blocking, close-on-exec; -1 unless piped
  int stdout_fd = -1;
  int stderr_fd = -1;
};

// Starts the process. On failure (including exec failing in the child) returns
// false with a message naming the program and the reason.
bool Spawn(const SpawnRequest& request, SpawnedProcess* out, std::string* err);

struct RunOutcome {
  bool exited = false;  // false: killed at the deadline
  int exit_code = -1;
  int signal = 0;
};

// Runs `argv` with `input` on its stdin and waits at most `deadline`, killing it
// after. Used for quick helpers only; it blocks the caller.
bool RunToCompletion(const std::vector<std::string>& argv, const std::string& input,
                     std::chrono::milliseconds deadline, RunOutcome* outcome, std::string* err);

}  // namespace kumo::agent
