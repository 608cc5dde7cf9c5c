// GuestAgent: the typed commands kumod sends to a guest's agent (kumo-agent
// or the stock qemu-ga), one function per command, like libvirt's
// qemuAgentShutdown(mon, mode); Command() is the one escape hatch for
// anything else. QgaGuestAgent speaks QGA over an AgentLink; tests may use
// any other implementation (tests/support/fake_guest_agent.h).
//
// Every call answers exactly once, on the event loop, never inline. Errors:
//   GuestAgentNotResponding — no answer in time, the link closed, or the
//                             agent socket cannot be reached;
//   GuestCommandFailed      — the agent answered with an error (its QGA class
//                             and description are in the message).
// Everything the guest sends is untrusted: replies of the wrong shape are
// GuestCommandFailed ("malformed reply ..."), never a crash, and texts are
// bounded (guestlink/agent_replies.h has the limits).
//
// Each typed call has its own timeout (below), counted from the call, also
// while it waits behind another call to the same agent.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/asio.h"
#include "common/status.h"

namespace kumo::guestlink {

class AgentLink;

enum class ShutdownMode { kPowerdown, kReboot, kHalt };

struct ExecCommand {
  std::string path;
  std::vector<std::string> args;
  std::string input;  // fed to stdin (sent base64-encoded)
  bool capture_output = true;
};

struct ExecStatus {
  bool exited = false;
  int exit_code = -1;       // when exited normally
  int signal = 0;           // when killed by a signal
  std::string stdout_text;  // decoded
  std::string stderr_text;
};

struct OsInfo {
  std::string id;           // "debian"
  std::string pretty_name;  // "Debian GNU/Linux 12 (bookworm)"
  std::string kernel_release;
  std::string machine;
};

// What guest-info says of the agent itself: which agent answers, whatever
// the image says it runs (a user may have put kumo-agent into a stock image).
struct AgentIdentity {
  std::string version;  // "7.2.0" (qemu-ga), kumo-agent's own
  // kumo-role: "normal" | "rescue" (kumo-agent); "" for an agent that has
  // none (qemu-ga).
  std::string role;
  // It has kumo-agent's own commands (kumo-health among its enabled
  // supported_commands, or a kumo-role).
  bool kumo_commands = false;
};

struct NetworkInterface {
  std::string name;
  std::string hardware_address;
  std::vector<std::string> ip_addresses;  // "10.0.2.15/24"
};

// The typed calls' timeouts. Fakes use the same ones.
inline constexpr std::chrono::milliseconds kShutdownGrace{2000};
inline constexpr std::chrono::milliseconds kSetPasswordTimeout{15000};
inline constexpr std::chrono::milliseconds kExecTimeout{5000};  // guest-exec and -status
inline constexpr std::chrono::milliseconds kHealthTimeout{3000};
inline constexpr std::chrono::milliseconds kInitStatusTimeout{2000};
inline constexpr std::chrono::milliseconds kOsInfoTimeout{3000};
inline constexpr std::chrono::milliseconds kNetworkTimeout{3000};
inline constexpr std::chrono::milliseconds kAgentIdentityTimeout{3000};

class GuestAgent {
 public:
  using Milliseconds = std::chrono::milliseconds;
  template <typename T>
  using Callback = std::function<void(Result<T>)>;
  using Done = std::function<void(Status)>;

  virtual ~GuestAgent() = default;

  // guest-sync-delimited: true if the agent answered within `timeout`.
  virtual void Ping(Milliseconds timeout, std::function<void(bool)> done) = 0;
  // guest-shutdown. The guest answers nothing on success, so this is ok when
  // the request was written and no error reply came within kShutdownGrace
  // of the call; GuestAgentNotResponding if it was not written by then.
  virtual void Shutdown(ShutdownMode mode, Done done) = 0;
  // guest-set-user-password, password in clear (sent base64, crypted false).
  virtual void SetUserPassword(const std::string& user, const std::string& password, Done done) = 0;
  // guest-exec: the pid of the started program.
  virtual void Exec(const ExecCommand& command, Callback<int64_t> done) = 0;
  virtual void GetExecStatus(int64_t pid, Callback<ExecStatus> done) = 0;
  // kumo-health (kumo-agent only): the snapshot as the agent sent it.
  virtual void Health(Callback<nlohmann::json> done) = 0;
  // kumo-init-status (kumo-agent only): the report as the agent sent it
  // (core/init_report.h reads it).
  virtual void InitStatus(Callback<nlohmann::json> done) = 0;
  virtual void GetOsInfo(Callback<OsInfo> done) = 0;
  virtual void GetNetworkInterfaces(Callback<std::vector<NetworkInterface>> done) = 0;
  // guest-info: which agent this is (its version, kumo-role, and whether it
  // has kumo-agent's own commands).
  virtual void GetAgentIdentity(Callback<AgentIdentity> done) = 0;
  // The escape hatch: any command, its "return" value as sent.
  virtual void Command(const std::string& name, const nlohmann::json& arguments,
                       Milliseconds timeout, Callback<nlohmann::json> done) = 0;

  // The guest opened its end of the agent's channel (a boot, or the agent
  // started again): what was written before was lost, so a ping or call
  // still waiting for the agent's sync asks again at once.
  virtual void ChannelOpened() = 0;

  // Drops the connection for good: calls in flight, and every call after,
  // fail with GuestAgentNotResponding. Destroying a GuestAgent closes it
  // (calls in flight still answer, from the event loop).
  virtual void Close() = 0;
};

// Makes the agent of one guest, given its agent socket path.
using GuestAgentFactory =
    std::function<std::shared_ptr<GuestAgent>(const std::string& agent_socket)>;

// The real one: QGA over AgentLink on kumod's event loop.
std::shared_ptr<GuestAgent> ConnectGuestAgent(boost::asio::io_context& io,
                                              const std::string& agent_socket);

}  // namespace kumo::guestlink
