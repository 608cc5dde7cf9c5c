#include "agent/agent_loop.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>

namespace kumo::agent {
namespace {

constexpr size_t kReadChunk = 64 * 1024;
// Read no more requests while this much reply text waits for the host.
constexpr size_t kReplyBackpressureBytes = 64 * 1024;
constexpr int kRetryMs = 1000;

void Log(const char* fmt, const std::string& detail) {
  std::fprintf(stderr, "kumo-agent: ");
  std::fprintf(stderr, fmt, detail.c_str());
  std::fprintf(stderr, "\n");
}

std::string ReadLine(const std::string& path) {
  char buf[256] = {};
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  std::string s(buf, n > 0 ? size_t(n) : 0);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace

std::string FindVirtioPort(const std::string& name) {
  std::string by_link = "/dev/virtio-ports/" + name;
  if (access(by_link.c_str(), F_OK) == 0) return by_link;
  DIR* dir = opendir("/sys/class/virtio-ports");
  if (!dir) return "";
  std::string found;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    if (ReadLine(std::string("/sys/class/virtio-ports/") + e->d_name + "/name") == name) {
      found = std::string("/dev/") + e->d_name;
      break;
    }
  }
  closedir(dir);
  return found;
}

AgentLoop::AgentLoop(AgentSettings settings, ChannelSpec channel)
    : settings_(std::move(settings)), channel_(std::move(channel)) {
  RegisterCommands(dispatcher_, settings_, {exec_, oom_, files_});
}

AgentLoop::~AgentLoop() {
  if (peer_fd_ >= 0) close(peer_fd_);
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    unlink(channel_.path.c_str());
  }
  if (signal_fd_ >= 0) close(signal_fd_);
}

bool AgentLoop::SetUp() {
  signal(SIGPIPE, SIG_IGN);
  sigset_t mask;
  sigemptyset(&mask);
  for (int s : {SIGCHLD, SIGIO, SIGTERM, SIGINT, SIGHUP}) sigaddset(&mask, s);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  signal_fd_ = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd_ < 0) {
    Log("signalfd: %s", strerror(errno));
    return false;
  }
  oom_.Open();  // optional: without /dev/kmsg access there are no OOM records

  if (channel_.kind == ChannelSpec::Kind::kUnixListen) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (channel_.path.size() >= sizeof addr.sun_path) {
      Log("socket path too long: %s", channel_.path);
      return false;
    }
    memcpy(addr.sun_path, channel_.path.c_str(), channel_.path.size());
    listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    unlink(channel_.path.c_str());
    mode_t old = umask(0177);  // the socket is born 0600
    int rc = bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    umask(old);
    if (listen_fd_ < 0 || rc != 0 || listen(listen_fd_, 4) != 0) {
      Log("cannot listen: %s", channel_.path + ": " + strerror(errno));
      return false;
    }
  } else {
    OpenPort();
  }
  return true;
}

void AgentLoop::OpenPort() {
  std::string path =
      channel_.path.empty() ? FindVirtioPort("org.qemu.guest_agent.0") : channel_.path;
  if (path.empty()) return;  // not there yet: retried from the loop
  peer_fd_ = open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (peer_fd_ < 0) {
    Log("cannot open %s", path + ": " + strerror(errno));
    return;
  }
  // The port raises SIGIO when the host side connects or disconnects.
  fcntl(peer_fd_, F_SETOWN, getpid());
  fcntl(peer_fd_, F_SETFL, fcntl(peer_fd_, F_GETFL) | O_ASYNC);
  host_connected_ = true;
}

int AgentLoop::PollTimeoutMs() const {
  if (channel_.kind == ChannelSpec::Kind::kVirtioPort && (peer_fd_ < 0 || !host_connected_)) {
    return kRetryMs;
  }
  return -1;
}

void AgentLoop::OnSignal() {
  signalfd_siginfo info;
  bool child = false;
  while (read(signal_fd_, &info, sizeof info) == sizeof info) {
    switch (info.ssi_signo) {
      case SIGCHLD:
        child = true;
        break;
      case SIGIO:
        host_connected_ = true;
        break;
      case SIGTERM:
      case SIGINT:
        stopping_ = true;
        break;
      default:
        break;
    }
  }
  if (child) exec_.ReapChildren();
}

void AgentLoop::DropPeer() {
  if (channel_.kind == ChannelSpec::Kind::kVirtioPort) {
    // The port stays open; wait for the SIGIO of the next connection. Keep
    // the replies and any partial request: a host's first request can reach
    // the guest before the port learns the host connected, and its reply must
    // wait, not vanish. A new client resynchronises with guest-sync-delimited.
    host_connected_ = false;
    return;
  }
  framer_.Reset();
  pending_replies_.clear();
  pending_replies_.shrink_to_fit();
  close(peer_fd_);
  peer_fd_ = -1;
}

void AgentLoop::ReadRequests() {
  std::string chunk(kReadChunk, '\0');
  ssize_t n = read(peer_fd_, chunk.data(), chunk.size());
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    DropPeer();  // EOF: the client left (socket) or the host is not connected (port)
    return;
  }
  // Each request is answered as soon as it is framed: a read of pipelined
  // requests is never held as a list of messages first.
  framer_.Feed(std::string_view(chunk.data(), size_t(n)), [this](qga::FramedItem::Kind kind,
                                                                 std::string_view text) {
    if (kind == qga::FramedItem::Kind::kError) {
      pending_replies_ += QgaDispatcher::FormatError({"GenericError", std::string(text)}).bytes;
    } else if (auto reply = dispatcher_.Dispatch(text)) {
      pending_replies_ += reply->bytes;
    }
  });
  FlushReplies();
}

void AgentLoop::FlushReplies() {
  while (!pending_replies_.empty() && peer_fd_ >= 0) {
    ssize_t n = write(peer_fd_, pending_replies_.data(), pending_replies_.size());
    if (n > 0) {
      pending_replies_.erase(0, size_t(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      return;
    } else {
      DropPeer();
      return;
    }
  }
  if (pending_replies_.empty()) pending_replies_.shrink_to_fit();
}

void AgentLoop::OnPeerEvents(short revents) {
  if (revents & POLLOUT) FlushReplies();
  if (peer_fd_ < 0) return;
  if (revents & (POLLIN | POLLHUP | POLLERR)) {
    if ((revents & POLLIN) || channel_.kind == ChannelSpec::Kind::kUnixListen) {
      ReadRequests();
    } else {
      DropPeer();  // HUP without data: the host side is not connected
    }
  }
}

int AgentLoop::Run() {
  if (!SetUp()) return 1;
  std::vector<pollfd> fds;
  while (!stopping_) {
    if (channel_.kind == ChannelSpec::Kind::kVirtioPort && peer_fd_ < 0) OpenPort();
    fds.clear();
    fds.push_back({signal_fd_, POLLIN, 0});
    int peer_index = -1, listen_index = -1, oom_index = -1;
    if (peer_fd_ >= 0 && host_connected_) {
      short events = pending_replies_.empty() ? 0 : POLLOUT;
      if (pending_replies_.size() < kReplyBackpressureBytes) events |= POLLIN;
      peer_index = int(fds.size());
      fds.push_back({peer_fd_, events, 0});
    }
    if (listen_fd_ >= 0 && peer_fd_ < 0) {
      listen_index = int(fds.size());
      fds.push_back({listen_fd_, POLLIN, 0});
    }
    if (oom_.fd() >= 0) {
      oom_index = int(fds.size());
      fds.push_back({oom_.fd(), POLLIN, 0});
    }
    size_t exec_begin = fds.size();
    exec_.PollFds(fds);

    int ready = poll(fds.data(), fds.size(), PollTimeoutMs());
    if (ready < 0 && errno != EINTR) {
      Log("poll: %s", strerror(errno));
      return 1;
    }
    if (ready <= 0) {
      // Timed out while the host was away: look at the port again, in case a
      // SIGIO was missed.
      host_connected_ = true;
      continue;
    }
    if (fds[0].revents) OnSignal();
    if (oom_index >= 0 && fds[oom_index].revents) oom_.OnReadable();
    for (size_t i = exec_begin; i < fds.size(); ++i) {
      if (fds[i].revents) exec_.OnReady(fds[i]);
    }
    if (listen_index >= 0 && (fds[listen_index].revents & POLLIN)) {
      peer_fd_ = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      framer_.Reset();
    }
    if (peer_index >= 0 && fds[peer_index].revents) OnPeerEvents(fds[peer_index].revents);
  }
  return 0;
}

}  // namespace kumo::agent
