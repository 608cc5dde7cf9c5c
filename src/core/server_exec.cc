// ServerCore::Exec: a program run in the guest through the agent, waited for
// by polling guest-exec-status without blocking the event loop.
#include "common/base64.h"
#include "core/server_core.h"

namespace kumo::core {

namespace asio = boost::asio;

namespace {

constexpr Milliseconds kPollEvery{100};
constexpr Milliseconds kCallTimeout{5000};

Status AgentError(const std::string& name, const guestlink::QgaReply& reply) {
  if (reply.timed_out) {
    return Status(codes::kGuestAgentNotResponding,
                  "the guest agent of " + name + " did not answer: " + reply.error_desc,
                  "check the server's status (kumo show " + name + ") and its console");
  }
  return Status(codes::kInvalidArgument, "the guest refused: " + reply.error_desc);
}

}  // namespace

void ServerCore::Exec(const std::string& name, const ExecRequest& request,
                      std::function<void(Result<ExecResult>)> done) {
  auto r = Load(name);
  if (!r.ok()) return done(r.status());
  std::shared_ptr<guestlink::AgentLink> agent = AgentOf(name);
  if (r->agent != "ok" || !agent) {
    return done(Status(codes::kGuestAgentNotResponding,
                       "the guest agent of " + name + " is not responding, so nothing can be run",
                       "use the console (kumo console " + name + "), or force stop it"));
  }
  guestlink::json args = {{"path", request.path}, {"arg", request.args}, {"capture-output", true}};
  if (!request.input.empty()) args["input-data"] = Base64Encode(request.input);
  int64_t give_up = NowMs() + request.timeout.count();
  std::weak_ptr<bool> alive = alive_;
  agent->Call("guest-exec", args, true, kCallTimeout,
              [this, alive, agent, name, give_up, done](guestlink::QgaReply reply) {
                if (alive.expired()) return;
                if (!reply.ok) return done(AgentError(name, reply));
                PollExec(agent, reply.value.value("pid", int64_t{0}), give_up, done);
              });
}

void ServerCore::PollExec(std::shared_ptr<guestlink::AgentLink> agent, int64_t pid,
                          int64_t give_up_ms, std::function<void(Result<ExecResult>)> done) {
  std::weak_ptr<bool> alive = alive_;
  agent->Call(
      "guest-exec-status", {{"pid", pid}}, true, kCallTimeout,
      [this, alive, agent, pid, give_up_ms, done](guestlink::QgaReply reply) {
        if (alive.expired()) return;
        if (!reply.ok) return done(AgentError("the server", reply));
        if (reply.value.value("exited", false)) {
          ExecResult result;
          result.exit_code = reply.value.value("exitcode", -1);
          result.signal = reply.value.value("signal", 0);
          result.stdout_text = Base64Decode(reply.value.value("out-data", "")).value_or("");
          result.stderr_text = Base64Decode(reply.value.value("err-data", "")).value_or("");
          return done(result);
        }
        if (NowMs() >= give_up_ms) {
          return done(Status(codes::kInternal,
                             "the program (pid " + std::to_string(pid) +
                                 ") was still running at the timeout; it was left running"));
        }
        auto timer = std::make_shared<asio::steady_timer>(io_, kPollEvery);
        timer->async_wait([this, alive, timer, agent, pid, give_up_ms, done](auto ec) {
          if (!ec && !alive.expired()) PollExec(agent, pid, give_up_ms, done);
        });
      });
}

}  // namespace kumo::core
