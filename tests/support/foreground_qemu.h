// Test support: the QEMU command line kumod uses (hypervisor/qemu_argv.h),
// but in the foreground, so that the test starts QEMU as its own child
// process and stops it by its pid; and the console FIFOs that command line
// names, with a reader standing in for kumod's console broker. Link
// kumo_hypervisor.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "hypervisor/launch_files.h"
#include "hypervisor/qemu_argv.h"

namespace kumo::testing {

// BuildQemuArgv(qemu_binary, spec) without -daemonize and its -pidfile;
// every other argument as kumod passes it.
// REQUIRES: hypervisor::ValidateSpec(spec).ok(), and the console FIFOs made
// (ForegroundConsole, or hypervisor::MakeConsoleFifos with a broker reading).
inline std::vector<std::string> ForegroundQemuArgv(const std::string& qemu_binary,
                                                   const hypervisor::MachineSpec& spec) {
  std::vector<std::string> argv;
  auto full = hypervisor::BuildQemuArgv(qemu_binary, spec);
  for (size_t i = 0; i < full.size(); ++i) {
    if (full[i] == "-daemonize") continue;
    if (full[i] == "-pidfile") {
      ++i;  // and its path
      continue;
    }
    argv.push_back(full[i]);
  }
  return argv;
}

// For a test that runs QEMU without kumod: makes the console FIFOs and reads
// (and drops) what the guest prints, as kumod's broker would, so that QEMU
// never waits on a full pipe; QEMU's console.log has it all. Reads on its
// own thread until destroyed.
class ForegroundConsole {
 public:
  explicit ForegroundConsole(const hypervisor::MachinePaths& paths) {
    if (!hypervisor::MakeConsoleFifos(paths, std::nullopt).ok() || pipe(stop_) != 0) return;
    fd_ = open(paths.console_output_fifo().c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd_ < 0) return;
    reader_ = std::thread([this] { Drain(); });
  }
  ~ForegroundConsole() {
    if (reader_.joinable()) {
      (void)!write(stop_[1], "x", 1);
      reader_.join();
    }
    for (int fd : {fd_, stop_[0], stop_[1]}) {
      if (fd >= 0) close(fd);
    }
  }
  ForegroundConsole(const ForegroundConsole&) = delete;
  ForegroundConsole& operator=(const ForegroundConsole&) = delete;

  bool ok() const { return reader_.joinable(); }

 private:
  void Drain() {
    char buf[65536];
    for (;;) {
      pollfd fds[2] = {{fd_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
      if (poll(fds, 2, -1) < 0) continue;
      if (fds[1].revents) return;
      // A QEMU that exited leaves the FIFO at its end until the next opens it.
      if (read(fd_, buf, sizeof buf) <= 0) usleep(10000);
    }
  }

  int fd_ = -1;
  int stop_[2] = {-1, -1};
  std::thread reader_;
};

}  // namespace kumo::testing
