// Test support: a process started from an argv (never a shell) that the test
// owns and stops by its pid, and a temporary directory removed afterwards.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace kumo::testing {

class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ChildProcess(ChildProcess&& other) noexcept : pid_(other.pid_) { other.pid_ = -1; }
  ~ChildProcess() { Stop(); }

  // Starts argv[0] (a path) with stdout and stderr appended to `log_path`
  // ("" keeps the test's own).
  bool Start(const std::vector<std::string>& argv, const std::string& log_path, std::string* err);
  // Processes started from now on get RLIMIT_NOFILE `n` (soft and hard),
  // set between fork and exec; 0: inherited.
  void LimitOpenFiles(uint64_t n) { open_files_ = n; }

  pid_t pid() const { return pid_; }
  bool running();
  // Waits for the process to exit on its own; returns its wait status, or -1
  // if it was still running at the deadline.
  int WaitExit(std::chrono::milliseconds timeout);
  // SIGTERM, then SIGKILL after `grace`; always reaps.
  void Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(3000));

 private:
  pid_t pid_ = -1;
  uint64_t open_files_ = 0;
};

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Writes `text` to `path` with the given mode.
void WriteFile(const std::string& path, const std::string& text, int mode = 0644);
std::string ReadFile(const std::string& path);

// Reads `fd` until `want` has arrived, EOF, or `timeout`; returns all it read.
std::string ReadFdUntil(int fd, const std::string& want,
                        std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace kumo::testing
