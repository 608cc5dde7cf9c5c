// ProcessWatch: learns, on the event loop and without blocking it, that a
// process has exited. It holds a pidfd (pidfd_open(2), Linux 5.3+), so unlike
// waitpid() it works for processes that are not kumod's children (a
// daemonized QEMU, or one started before kumod restarted), and unlike a bare
// pid it can never mean a later process that reuses the number.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>

#include "common/asio.h"
#include "common/status.h"

namespace kumo::hypervisor {

class ProcessWatch : public std::enable_shared_from_this<ProcessWatch> {
 public:
  // NotFound if no process has that pid.
  static Result<std::shared_ptr<ProcessWatch>> Open(boost::asio::io_context& io, pid_t pid);
  ~ProcessWatch();
  ProcessWatch(const ProcessWatch&) = delete;
  ProcessWatch& operator=(const ProcessWatch&) = delete;

  pid_t pid() const { return pid_; }
  // Whether the process has exited (a zombie counts as exited).
  bool exited() const;
  // Calls `done` once, from the event loop, when the process has exited (at
  // once, posted, if it already has). Never called after this object is
  // destroyed. REQUIRES: called at most once.
  void OnExit(std::function<void()> done);
  // Sends `signal` to exactly this process; a no-op once it has exited.
  Status Signal(int signal);
  // For a child of kumod that has exited: reaps it and returns its wait
  // status; nullopt if it is not reapable (not our child, or already reaped).
  std::optional<int> Reap();

 private:
  ProcessWatch(boost::asio::io_context& io, pid_t pid, int pidfd);
  void Wait();
  void Fire();

  boost::asio::io_context& io_;
  pid_t pid_;
  boost::asio::posix::stream_descriptor pidfd_;
  std::function<void()> done_;
  bool fired_ = false;
};

}  // namespace kumo::hypervisor
