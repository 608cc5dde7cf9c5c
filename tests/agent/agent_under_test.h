// Test support for agent protocol tests: an agent (kumo-agent or Debian's
// qemu-ga) started on a unix socket in a fresh directory, with a client.
#pragma once

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "guestlink/qga_client.h"
#include "support/child_process.h"

namespace kumo {

using guestlink::json;
using guestlink::QgaClient;
using guestlink::QgaReply;
using testing::ChildProcess;
using testing::TempDir;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

enum class Agent { kKumo, kQemuGa };

inline std::string AgentName(const ::testing::TestParamInfo<Agent>& info) {
  return info.param == Agent::kKumo ? "kumo_agent" : "qemu_ga";
}

// Starts an agent on a socket in a fresh directory and connects to it.
class AgentUnderTest {
 public:
  AgentUnderTest(Agent agent, std::vector<std::string> extra_args = {}) {
    socket_ = dir_ / "agent.sock";
    std::vector<std::string> argv;
    if (agent == Agent::kKumo) {
      argv = {KUMO_AGENT_PATH, "--listen", "unix:" + socket_};
    } else {
      // Never let the host's own qemu-ga power off or change passwords of the
      // machine running the tests.
      argv = {QEMU_GA_PATH,
              "-m",
              "unix-listen",
              "-p",
              socket_,
              "-t",
              dir_ / "state",
              "-b",
              "guest-shutdown,guest-suspend-disk,guest-suspend-ram,guest-suspend-hybrid,"
              "guest-set-user-password,guest-fsfreeze-freeze,guest-fsfreeze-freeze-list,"
              "guest-set-time"};
      std::filesystem::create_directory(dir_ / "state");
    }
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    std::string err;
    if (!process_.Start(argv, dir_ / "agent.log", &err)) ADD_FAILURE() << err;
    if (!client_.Connect(socket_, Clock::now() + 10s, &err)) ADD_FAILURE() << err;
  }

  QgaClient& client() { return client_; }
  const TempDir& dir() const { return dir_; }
  const std::string& socket() const { return socket_; }
  ChildProcess& process() { return process_; }

 private:
  TempDir dir_;
  std::string socket_;
  ChildProcess process_;
  QgaClient client_;
};

// Connects, sends `request`, and returns the raw bytes up to the first newline.
inline std::string RawExchange(const std::string& path, const std::string& request) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  std::string got;
  auto deadline = Clock::now() + 10s;
  while (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (Clock::now() > deadline) return got;
    std::this_thread::sleep_for(20ms);
  }
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) == ssize_t(request.size())) {
    char c;
    while (recv(fd, &c, 1, 0) == 1 && c != '\n') got += c;
  }
  close(fd);
  return got;
}

}  // namespace kumo
