// FakeGuestAgent: a scriptable GuestAgent for the server core's unit tests,
// on simulated time. Nothing runs in a guest: commands are recorded, answers
// come from what the test set. Like the real one, every call answers exactly
// once, posted on the io_context (never inline), and a call that gets no
// answer fails when its timeout (guestlink/guest_agent.h's constants) has
// passed on the Clock.
//
// Command names are QGA's: Ping is "guest-sync-delimited", Shutdown
// "guest-shutdown", SetUserPassword "guest-set-user-password", Exec
// "guest-exec", GetExecStatus "guest-exec-status", Health "kumo-health",
// InitStatus "kumo-init-status", GetOsInfo "guest-get-osinfo",
// GetNetworkInterfaces "guest-network-get-interfaces", GetAgentIdentity "guest-info".
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "guestlink/guest_agent.h"

namespace kumo::testing {

class FakeGuestAgent : public guestlink::GuestAgent {
 public:
  using json = nlohmann::json;

  FakeGuestAgent(boost::asio::io_context& io, Clock& clock);
  ~FakeGuestAgent() override;  // closes: calls in flight still answer

  // Frozen (a hung or stopped agent): nothing answers. Ping calls back false
  // once its timeout has passed; other calls fail with
  // GuestAgentNotResponding after theirs. Unfreezing does not bring back the
  // answers to calls made while frozen.
  void set_frozen(bool frozen) { frozen_ = frozen; }
  // False: pings go unanswered (false after their timeout); the rest works.
  void set_ping_answers(bool answers) { ping_answers_ = answers; }
  // The next call of `command` fails with `status` (Ping: calls back false).
  void fail_next(const std::string& command, Status status);
  // What every guest-exec-status answers (default: exited, code 0, no output).
  void set_exec_result(guestlink::ExecStatus result) { exec_result_ = std::move(result); }
  void set_health(json health) { health_ = std::move(health); }
  // Null (the default) answers like a stock image: CommandNotFound.
  void set_init_status(json status) { init_status_ = std::move(status); }
  void set_os_info(guestlink::OsInfo info) { os_info_ = std::move(info); }
  void set_network_interfaces(std::vector<guestlink::NetworkInterface> interfaces) {
    interfaces_ = std::move(interfaces);
  }
  // The kumo-role GetAgentIdentity answers ("normal" unless set; "" like
  // qemu-ga, then without kumo-agent's commands unless set_kumo_commands).
  void set_agent_role(std::string role) { role_ = std::move(role); }
  void set_kumo_commands(bool yes) { kumo_commands_ = yes; }
  // What Command(name, ...) returns; other names are CommandNotFound.
  void set_command_reply(const std::string& name, json value) {
    command_replies_[name] = std::move(value);
  }

  // What the guest does when a shutdown takes effect (powers off, reboots):
  // called as the request is taken, before its answer is posted.
  void set_on_shutdown(std::function<void(guestlink::ShutdownMode)> fn) {
    on_shutdown_ = std::move(fn);
  }
  // Every command asked, in order, answered or not.
  const std::vector<std::string>& commands() const { return commands_; }
  // What took effect (not what was frozen, failed or closed).
  const std::vector<guestlink::ShutdownMode>& shutdowns() const { return shutdowns_; }
  const std::map<std::string, std::string>& passwords() const { return passwords_; }
  const std::vector<guestlink::ExecCommand>& execs() const { return execs_; }
  bool closed() const { return closed_; }
  // How many times kumod told it the guest opened its channel.
  int channel_openings() const { return channel_openings_; }
  // Calls waiting for their timeout.
  size_t calls_in_flight() const { return hanging_.size(); }

  void Ping(Milliseconds timeout, std::function<void(bool)> done) override;
  void Shutdown(guestlink::ShutdownMode mode, Done done) override;
  void SetUserPassword(const std::string& user, const std::string& password, Done done) override;
  void Exec(const guestlink::ExecCommand& command, Callback<int64_t> done) override;
  void GetExecStatus(int64_t pid, Callback<guestlink::ExecStatus> done) override;
  void Health(Callback<json> done) override;
  void InitStatus(Callback<json> done) override;
  void GetOsInfo(Callback<guestlink::OsInfo> done) override;
  void GetNetworkInterfaces(Callback<std::vector<guestlink::NetworkInterface>> done) override;
  void GetAgentIdentity(Callback<guestlink::AgentIdentity> done) override;
  void Command(const std::string& name, const json& arguments, Milliseconds timeout,
               Callback<json> done) override;
  void ChannelOpened() override { ++channel_openings_; }
  void Close() override;

 private:
  struct Hanging {
    std::unique_ptr<Alarm> alarm;
    std::function<void(Status)> fail;
  };

  // Records `command`; true if the fake answers it now. Otherwise it is
  // answered (closed, failed) or will be (frozen or `silent`: after
  // `timeout`) through `fail`.
  bool Admit(const std::string& command, Milliseconds timeout, std::function<void(Status)> fail,
             bool silent = false);
  void Post(std::function<void()> fn);
  template <typename T>
  void Answer(const std::string& command, Milliseconds timeout, Callback<T> done,
              const std::function<Result<T>()>& answer);

  boost::asio::io_context& io_;
  Clock& clock_;
  bool frozen_ = false;
  bool ping_answers_ = true;
  bool closed_ = false;
  int channel_openings_ = 0;
  std::map<std::string, std::deque<Status>> failures_;
  guestlink::ExecStatus exec_result_;
  json health_;
  json init_status_;
  guestlink::OsInfo os_info_;
  std::vector<guestlink::NetworkInterface> interfaces_;
  std::map<std::string, json> command_replies_;
  std::string role_ = "normal";
  std::optional<bool> kumo_commands_;

  std::vector<std::string> commands_;
  std::vector<guestlink::ShutdownMode> shutdowns_;
  std::function<void(guestlink::ShutdownMode)> on_shutdown_;
  std::map<std::string, std::string> passwords_;
  std::vector<guestlink::ExecCommand> execs_;
  std::set<int64_t> pids_;
  int64_t next_pid_ = 1000;
  uint64_t next_hanging_ = 0;
  std::map<uint64_t, Hanging> hanging_;
};

}  // namespace kumo::testing
