#include "guestlink/guest_agent.h"

#include "common/base64.h"
#include "guestlink/agent_link.h"
#include "guestlink/agent_replies.h"

namespace kumo::guestlink {
namespace {

namespace asio = boost::asio;

Status Closed() {
  return Status(codes::kGuestAgentNotResponding,
                "the guest agent did not answer: the agent link was closed");
}

// QGA over one AgentLink. AgentLink already calls back from the event loop
// (it posts every reply), exactly once per call, also when it is closed.
class QgaGuestAgent : public GuestAgent {
 public:
  QgaGuestAgent(asio::io_context& io, const std::string& socket)
      : io_(io), link_(AgentLink::Create(io, socket)) {}
  ~QgaGuestAgent() override { Close(); }

  void Ping(Milliseconds timeout, std::function<void(bool)> done) override {
    if (!link_) {
      asio::post(io_, [done = std::move(done)] { done(false); });
      return;
    }
    link_->Ping(timeout, std::move(done));
  }

  void Shutdown(ShutdownMode mode, Done done) override {
    CallForStatus("guest-shutdown", {{"mode", ShutdownModeName(mode)}}, false, kShutdownGrace,
                  std::move(done));
  }

  void SetUserPassword(const std::string& user, const std::string& password, Done done) override {
    json args = {{"username", user}, {"password", Base64Encode(password)}, {"crypted", false}};
    CallForStatus("guest-set-user-password", std::move(args), true, kSetPasswordTimeout,
                  std::move(done));
  }

  void Exec(const ExecCommand& command, Callback<int64_t> done) override {
    CallFor<int64_t>("guest-exec", ExecArguments(command), kExecTimeout, ParseExecStarted,
                     std::move(done));
  }

  void GetExecStatus(int64_t pid, Callback<ExecStatus> done) override {
    CallFor<ExecStatus>("guest-exec-status", {{"pid", pid}}, kExecTimeout, ParseExecStatus,
                        std::move(done));
  }

  void Health(Callback<json> done) override {
    CallFor<json>(
        "kumo-health", json(), kHealthTimeout,
        [](const json& v) { return ParseObject("kumo-health", v); }, std::move(done));
  }

  void InitStatus(Callback<json> done) override {
    CallFor<json>(
        "kumo-init-status", json(), kInitStatusTimeout,
        [](const json& v) { return ParseObject("kumo-init-status", v); }, std::move(done));
  }

  void GetOsInfo(Callback<OsInfo> done) override {
    CallFor<OsInfo>("guest-get-osinfo", json(), kOsInfoTimeout, ParseOsInfo, std::move(done));
  }

  void GetNetworkInterfaces(Callback<std::vector<NetworkInterface>> done) override {
    CallFor<std::vector<NetworkInterface>>("guest-network-get-interfaces", json(), kNetworkTimeout,
                                           ParseNetworkInterfaces, std::move(done));
  }

  void GetAgentIdentity(Callback<AgentIdentity> done) override {
    CallFor<AgentIdentity>("guest-info", json(), kAgentIdentityTimeout, ParseAgentIdentity,
                           std::move(done));
  }

  void Command(const std::string& name, const json& arguments, Milliseconds timeout,
               Callback<json> done) override {
    CallFor<json>(
        name, arguments, timeout, [](const json& v) -> Result<json> { return v; }, std::move(done));
  }

  void ChannelOpened() override {
    if (link_) link_->Resync();
  }

  void Close() override {
    if (!link_) return;
    link_->Close();  // fails every queued call, from the loop
    link_.reset();   // and the socket goes with it
  }

 private:
  template <typename T>
  void CallFor(std::string command, json arguments, Milliseconds timeout,
               std::function<Result<T>(const json&)> parse, Callback<T> done) {
    if (!link_) {
      asio::post(io_, [done = std::move(done)] { done(Closed()); });
      return;
    }
    link_->Call(std::move(command), std::move(arguments), true, timeout,
                [parse = std::move(parse), done = std::move(done)](QgaReply reply) {
                  Status status = ReplyStatus(reply);
                  if (!status.ok()) return done(std::move(status));
                  done(parse(reply.value));
                });
  }

  void CallForStatus(std::string command, json arguments, bool expect_reply, Milliseconds timeout,
                     Done done) {
    if (!link_) {
      asio::post(io_, [done = std::move(done)] { done(Closed()); });
      return;
    }
    link_->Call(std::move(command), std::move(arguments), expect_reply, timeout,
                [done = std::move(done)](QgaReply reply) { done(ReplyStatus(reply)); });
  }

  asio::io_context& io_;
  std::shared_ptr<AgentLink> link_;  // null once closed
};

}  // namespace

std::shared_ptr<GuestAgent> ConnectGuestAgent(asio::io_context& io,
                                              const std::string& agent_socket) {
  return std::make_shared<QgaGuestAgent>(io, agent_socket);
}

}  // namespace kumo::guestlink
