// AgentLoop is kumo-agent's single-threaded event loop: it serves QGA requests
// on one channel, runs guest-exec children, and follows the kernel log.
//
// Channels:
//  - a virtio-serial port in the guest. While no host program is connected
//    the port reports HUP on every poll; the loop then leaves the port out of
//    poll and waits for the SIGIO the port sends when the host connects
//    (with a 1 s fallback), so a disconnected host costs no CPU.
//  - a unix socket on the host (tests, benchmarks): one client at a time,
//    like qemu-ga's unix-listen mode.
// Backpressure: the loop reads no more requests while replies wait to be
// written, so a host that stops reading cannot make the agent grow.
#pragma once

#include <poll.h>

#include <string>
#include <vector>

#include "agent/commands.h"
#include "agent/exec_manager.h"
#include "agent/oom_watch.h"
#include "agent/qga_dispatcher.h"
#include "qga/qga_framer.h"

namespace kumo::agent {

struct ChannelSpec {
  enum class Kind { kVirtioPort, kUnixListen };
  Kind kind = Kind::kVirtioPort;
  std::string path;  // device path, or "" to look the port up by name; socket path
};

class AgentLoop {
 public:
  AgentLoop(AgentSettings settings, ChannelSpec channel);
  AgentLoop(const AgentLoop&) = delete;
  AgentLoop& operator=(const AgentLoop&) = delete;
  ~AgentLoop();

  // Serves until SIGTERM or SIGINT. Returns the process exit code.
  int Run();

 private:
  bool SetUp();
  void OpenPort();
  int PollTimeoutMs() const;
  void OnSignal();
  void OnPeerEvents(short revents);
  void ReadRequests();
  void FlushReplies();
  void DropPeer();

  AgentSettings settings_;
  ChannelSpec channel_;
  ExecManager exec_;
  GuestFiles files_;
  OomWatch oom_;
  QgaDispatcher dispatcher_;
  qga::QgaFramer framer_{qga::QgaFramer::kMaxRequestBytes};

  int signal_fd_ = -1;
  int listen_fd_ = -1;
  int peer_fd_ = -1;
  bool host_connected_ = true;  // virtio port: false while the port reports HUP
  bool stopping_ = false;
  std::string pending_replies_;
};

// Finds the virtio-serial port device named `name` (e.g.
// org.qemu.guest_agent.0) through /dev/virtio-ports or, without udev, sysfs.
std::string FindVirtioPort(const std::string& name);

}  // namespace kumo::agent
