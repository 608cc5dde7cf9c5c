#include "hypervisor/spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>

extern char** environ;

namespace kumo::hypervisor {
namespace {

// posix_spawn's C objects, destroyed on every path out.
class SpawnSetup {
 public:
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions_);
    posix_spawnattr_init(&attr_);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions_);
    posix_spawnattr_destroy(&attr_);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;

  int Configure(const std::string& output_path) {
    int rc = posix_spawn_file_actions_addopen(&actions_, 0, "/dev/null", O_RDONLY, 0);
    if (rc == 0) {
      rc = posix_spawn_file_actions_addopen(&actions_, 1, output_path.c_str(),
                                            O_WRONLY | O_CREAT | O_APPEND, 0600);
    }
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions_, 1, 2);
    if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions_, 3);
    sigset_t all;
    sigset_t none;
    sigfillset(&all);
    sigemptyset(&none);
    if (rc == 0) rc = posix_spawnattr_setsigdefault(&attr_, &all);
    if (rc == 0) rc = posix_spawnattr_setsigmask(&attr_, &none);
    if (rc == 0) {
      rc = posix_spawnattr_setflags(
          &attr_, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    }
    return rc;
  }

  const posix_spawn_file_actions_t* actions() const { return &actions_; }
  const posix_spawnattr_t* attr() const { return &attr_; }

 private:
  posix_spawn_file_actions_t actions_;
  posix_spawnattr_t attr_;
};

}  // namespace

Result<pid_t> SpawnProcess(const std::vector<std::string>& argv, const std::string& output_path) {
  if (argv.empty()) return Status(codes::kInternal, "SpawnProcess: empty argv");
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  SpawnSetup setup;
  if (int rc = setup.Configure(output_path); rc != 0) {
    return Status(codes::kHypervisorError,
                  "cannot prepare to start " + argv[0] + ": " + strerror(rc));
  }
  pid_t pid = -1;
  // glibc's posix_spawn reports a failed exec (e.g. ENOENT) as its result.
  int rc = posix_spawnp(&pid, args[0], setup.actions(), setup.attr(), args.data(), environ);
  if (rc != 0) {
    return Status(codes::kHypervisorError, "cannot start " + argv[0] + ": " + strerror(rc),
                  "check that " + argv[0] + " is installed and executable");
  }
  return pid;
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
