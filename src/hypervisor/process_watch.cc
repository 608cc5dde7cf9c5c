#include "hypervisor/process_watch.h"

#include <poll.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace kumo::hypervisor {

namespace asio = boost::asio;

namespace {

// Raw system calls: glibc 2.36's <sys/pidfd.h> lacks extern "C" for C++.
int PidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

int PidfdSendSignal(int pidfd, int signal) {
  return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, signal, nullptr, 0));
}

}  // namespace

Result<std::shared_ptr<ProcessWatch>> ProcessWatch::Open(asio::io_context& io, pid_t pid) {
  if (pid <= 0) return Status(codes::kNotFound, "no process with pid " + std::to_string(pid));
  int fd = PidfdOpen(pid);
  if (fd < 0) {
    if (errno == ESRCH) {
      return Status(codes::kNotFound, "no process with pid " + std::to_string(pid));
    }
    return Status(codes::kHypervisorError,
                  "pidfd_open(" + std::to_string(pid) + "): " + strerror(errno));
  }
  return std::shared_ptr<ProcessWatch>(new ProcessWatch(io, pid, fd));
}

ProcessWatch::ProcessWatch(asio::io_context& io, pid_t pid, int pidfd)
    : io_(io), pid_(pid), pidfd_(io, pidfd) {}

ProcessWatch::~ProcessWatch() {
  boost::system::error_code ignored;
  pidfd_.close(ignored);
}

bool ProcessWatch::exited() const {
  // A pidfd polls readable once its process has terminated.
  pollfd p{const_cast<asio::posix::stream_descriptor&>(pidfd_).native_handle(), POLLIN, 0};
  return poll(&p, 1, 0) == 1;
}

void ProcessWatch::OnExit(std::function<void()> done) {
  done_ = std::move(done);
  Wait();
}

void ProcessWatch::Wait() {
  pidfd_.async_wait(asio::posix::descriptor_base::wait_read,
                    [self = weak_from_this()](boost::system::error_code ec) {
                      auto watch = self.lock();
                      if (!watch || ec || watch->fired_) return;
                      // Boost.Asio can hand over a stale event of a descriptor
                      // closed just before ours took its number: only the
                      // pidfd itself says whether the process has exited.
                      if (!watch->exited()) return watch->Wait();
                      watch->Fire();
                    });
  // The reactor is edge-triggered: an exit that happened before the wait was
  // queued may never be reported to it, so look once more ourselves.
  if (exited()) {
    asio::post(io_, [self = weak_from_this()]() {
      if (auto watch = self.lock()) watch->Fire();
    });
  }
}

void ProcessWatch::Fire() {
  if (fired_ || !done_) return;
  fired_ = true;
  auto self = shared_from_this();  // `done` may drop the last other reference
  std::function<void()> done = std::move(done_);
  done();
}

Status ProcessWatch::Signal(int signal) {
  if (PidfdSendSignal(pidfd_.native_handle(), signal) != 0 && errno != ESRCH) {
    return Status(codes::kHypervisorError,
                  "cannot signal pid " + std::to_string(pid_) + ": " + strerror(errno));
  }
  return Status::Ok();
}

std::optional<int> ProcessWatch::Reap() {
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r != pid_) return std::nullopt;
  return status;
}

}  // namespace kumo::hypervisor
