#include "support/fake_guest_agent.h"

namespace kumo::testing {

using guestlink::ExecCommand;
using guestlink::ExecStatus;
using guestlink::NetworkInterface;
using guestlink::OsInfo;
using guestlink::ShutdownMode;

namespace {

Status TimedOut() {
  return Status(codes::kGuestAgentNotResponding, "the guest agent did not answer: timed out");
}

Status Closed() {
  return Status(codes::kGuestAgentNotResponding,
                "the guest agent did not answer: the agent link was closed");
}

Status NotFound(const std::string& command) {
  return Status(codes::kGuestCommandFailed,
                "The command " + command + " has not been found (CommandNotFound)");
}

}  // namespace

FakeGuestAgent::FakeGuestAgent(boost::asio::io_context& io, Clock& clock) : io_(io), clock_(clock) {
  exec_result_.exited = true;
  exec_result_.exit_code = 0;
  health_ = {{"uptime_s", 100.0},
             {"load", {{"1m", 0.1}, {"5m", 0.1}, {"15m", 0.1}}},
             {"memory", {{"total_kib", 1048576}, {"available_kib", 524288}}},
             {"processes", 40},
             {"oom_kills", json::array()}};
  os_info_ = {"debian", "Debian GNU/Linux 12 (bookworm)", "6.1.0-18-cloud-amd64", "x86_64"};
  interfaces_ = {{"lo", "00:00:00:00:00:00", {"127.0.0.1/8", "::1/128"}},
                 {"eth0", "52:54:00:12:34:56", {"10.0.2.15/24"}}};
}

FakeGuestAgent::~FakeGuestAgent() { Close(); }

void FakeGuestAgent::fail_next(const std::string& command, Status status) {
  failures_[command].push_back(std::move(status));
}

void FakeGuestAgent::Post(std::function<void()> fn) { boost::asio::post(io_, std::move(fn)); }

bool FakeGuestAgent::Admit(const std::string& command, Milliseconds timeout,
                           std::function<void(Status)> fail, bool silent) {
  commands_.push_back(command);
  if (closed_) {
    Post([fail = std::move(fail)] { fail(Closed()); });
    return false;
  }
  if (frozen_ || silent) {
    const uint64_t id = ++next_hanging_;
    Hanging& h = hanging_[id];
    h.fail = std::move(fail);
    h.alarm = clock_.After(timeout, [this, id] {
      auto it = hanging_.find(id);
      if (it == hanging_.end()) return;
      Post([fail = std::move(it->second.fail)] { fail(TimedOut()); });
      hanging_.erase(it);
    });
    return false;
  }
  auto failure = failures_.find(command);
  if (failure != failures_.end() && !failure->second.empty()) {
    Post([fail = std::move(fail), status = failure->second.front()] { fail(status); });
    failure->second.pop_front();
    return false;
  }
  return true;
}

template <typename T>
void FakeGuestAgent::Answer(const std::string& command, Milliseconds timeout, Callback<T> done,
                            const std::function<Result<T>()>& answer) {
  if (!Admit(command, timeout, [done](Status s) { done(std::move(s)); })) return;
  Post([done = std::move(done), result = answer()] { done(result); });
}

void FakeGuestAgent::Ping(Milliseconds timeout, std::function<void(bool)> done) {
  if (!Admit(
          "guest-sync-delimited", timeout, [done](Status) { done(false); }, !ping_answers_)) {
    return;
  }
  Post([done = std::move(done)] { done(true); });
}

void FakeGuestAgent::Shutdown(ShutdownMode mode, Done done) {
  if (!Admit("guest-shutdown", guestlink::kShutdownGrace, done)) return;
  shutdowns_.push_back(mode);
  if (on_shutdown_) on_shutdown_(mode);
  Post([done = std::move(done)] { done(Status()); });
}

void FakeGuestAgent::SetUserPassword(const std::string& user, const std::string& password,
                                     Done done) {
  if (!Admit("guest-set-user-password", guestlink::kSetPasswordTimeout, done)) return;
  passwords_[user] = password;
  Post([done = std::move(done)] { done(Status()); });
}

void FakeGuestAgent::Exec(const ExecCommand& command, Callback<int64_t> done) {
  Answer<int64_t>("guest-exec", guestlink::kExecTimeout, std::move(done), [&]() {
    execs_.push_back(command);
    pids_.insert(next_pid_);
    return Result<int64_t>(next_pid_++);
  });
}

void FakeGuestAgent::GetExecStatus(int64_t pid, Callback<ExecStatus> done) {
  Answer<ExecStatus>(
      "guest-exec-status", guestlink::kExecTimeout, std::move(done), [&]() -> Result<ExecStatus> {
        if (!pids_.count(pid)) {
          return Status(codes::kGuestCommandFailed, "Invalid parameter 'pid' (GenericError)");
        }
        return exec_result_;
      });
}

void FakeGuestAgent::Health(Callback<json> done) {
  Answer<json>("kumo-health", guestlink::kHealthTimeout, std::move(done),
               [&]() { return Result<json>(health_); });
}

void FakeGuestAgent::InitStatus(Callback<json> done) {
  Answer<json>("kumo-init-status", guestlink::kInitStatusTimeout, std::move(done),
               [&]() -> Result<json> {
                 if (init_status_.is_null()) return NotFound("kumo-init-status");
                 return init_status_;
               });
}

void FakeGuestAgent::GetOsInfo(Callback<OsInfo> done) {
  Answer<OsInfo>("guest-get-osinfo", guestlink::kOsInfoTimeout, std::move(done),
                 [&]() { return Result<OsInfo>(os_info_); });
}

void FakeGuestAgent::GetNetworkInterfaces(Callback<std::vector<NetworkInterface>> done) {
  Answer<std::vector<NetworkInterface>>(
      "guest-network-get-interfaces", guestlink::kNetworkTimeout, std::move(done),
      [&]() { return Result<std::vector<NetworkInterface>>(interfaces_); });
}

void FakeGuestAgent::GetAgentIdentity(Callback<guestlink::AgentIdentity> done) {
  Answer<guestlink::AgentIdentity>("guest-info", guestlink::kAgentIdentityTimeout, std::move(done),
                                   [&]() {
                                     guestlink::AgentIdentity id;
                                     id.role = role_;
                                     id.kumo_commands = kumo_commands_.value_or(!role_.empty());
                                     id.version = id.kumo_commands ? "0.1.0" : "7.2.0";
                                     return Result<guestlink::AgentIdentity>(id);
                                   });
}

void FakeGuestAgent::Command(const std::string& name, const json& /*arguments*/,
                             Milliseconds timeout, Callback<json> done) {
  Answer<json>(name, timeout, std::move(done), [&]() -> Result<json> {
    auto it = command_replies_.find(name);
    if (it == command_replies_.end()) return NotFound(name);
    return it->second;
  });
}

void FakeGuestAgent::Close() {
  closed_ = true;
  for (auto& [id, h] : hanging_) {
    Post([fail = std::move(h.fail)] { fail(Closed()); });
  }
  hanging_.clear();
}

}  // namespace kumo::testing
