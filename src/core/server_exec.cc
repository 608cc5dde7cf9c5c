// ServerCore's requests to a running guest through its agent: running a
// program (guest-exec, waited for by polling its status without blocking the
// event loop) and setting a password.
#include "core/server_runtime.h"

namespace kumo::core {

namespace {

constexpr Milliseconds kPollEvery{100};

// The guest answered with an error: for the API, the request could not be
// done as asked.
Status Refused(const std::string& what, const Status& s) {
  return Status(codes::kInvalidArgument, what + s.message(), s.hint());
}

Status NoAnswer(const std::string& name, const Status& s) {
  return Status(codes::kGuestAgentNotResponding,
                "the guest agent of " + name + " did not answer: " + s.message(),
                "check the server's status (kumo show " + name + ") and its console");
}

}  // namespace

void ServerCore::Exec(const std::string& name, const ExecRequest& request,
                      std::function<void(Result<ExecResult>)> done) {
  auto r = ledger_.Get(name);
  if (!r.ok()) return done(r.status());
  std::shared_ptr<guestlink::GuestAgent> agent = AgentOf(name);
  if (r->agent == AgentState::kNone) {
    return done(NoGuestAgent(*r, "nothing can be run in it through kumo",
                             "log in on the console (kumo console " + name +
                                 "); if the image does run an agent, import it again with "
                                 "--agent-kind qemu-ga or kumo-agent"));
  }
  if (r->agent != AgentState::kOk || !agent) {
    return done(AgentNotResponding(
        *r, "nothing can be run", "use the console (kumo console " + name + "), or force stop it"));
  }
  guestlink::ExecCommand command{request.path, request.args, request.input, true};
  int64_t give_up = NowMs() + request.timeout.count();
  agent->Exec(command, [this, alive = std::weak_ptr<bool>(alive_), agent, name, give_up,
                        done](Result<int64_t> pid) {
    if (alive.expired()) return;
    if (!pid.ok()) {
      return done(pid.status().code() == codes::kGuestCommandFailed
                      ? Refused("the guest refused: ", pid.status())
                      : NoAnswer(name, pid.status()));
    }
    PollExec(agent, name, *pid, give_up, done);
  });
}

void ServerCore::PollExec(std::shared_ptr<guestlink::GuestAgent> agent, const std::string& name,
                          int64_t pid, int64_t give_up_ms,
                          std::function<void(Result<ExecResult>)> done) {
  std::weak_ptr<bool> alive = alive_;
  agent->GetExecStatus(
      pid, [this, alive, agent, name, pid, give_up_ms, done](Result<guestlink::ExecStatus> status) {
        if (alive.expired()) return;
        if (!status.ok()) {
          return done(status.status().code() == codes::kGuestCommandFailed
                          ? Refused("the guest refused: ", status.status())
                          : NoAnswer(name, status.status()));
        }
        if (status->exited) {
          return done(ExecResult{status->exit_code, status->signal, std::move(status->stdout_text),
                                 std::move(status->stderr_text)});
        }
        if (NowMs() >= give_up_ms) {
          return done(Status(codes::kInternal,
                             "the program (pid " + std::to_string(pid) +
                                 ") was still running at the timeout; it was left running"));
        }
        // Owned by the callback it runs; released when it has run.
        auto alarm = std::make_shared<std::unique_ptr<Alarm>>();
        *alarm = clock_.After(kPollEvery, [this, alive, alarm, agent, name, pid, give_up_ms, done] {
          if (!alive.expired()) PollExec(agent, name, pid, give_up_ms, done);
          alarm->reset();
        });
      });
}

void ServerCore::SetPassword(const std::string& name, const std::string& user,
                             const std::string& password,
                             std::function<void(Result<std::string>)> done) {
  auto r = ledger_.Get(name);
  if (!r.ok()) return done(r.status());
  bool user_ok =
      !user.empty() && user.size() <= 32 && (user[0] == '_' || (user[0] >= 'a' && user[0] <= 'z'));
  for (char c : user) {
    user_ok = user_ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-');
  }
  if (!user_ok) {
    return done(Status(codes::kInvalidArgument, "user must be a Unix user name (like root)",
                       "lowercase letters, digits, '_' and '-', at most 32"));
  }
  if (password.empty() || password.size() > 1024 ||
      password.find_first_of(std::string("\r\n\0", 3)) != std::string::npos) {
    return done(Status(codes::kInvalidArgument,
                       "password must be 1-1024 bytes without line breaks or NUL bytes"));
  }
  std::shared_ptr<guestlink::GuestAgent> agent = AgentOf(name);
  auto image = store_.GetImage(r->image);
  const std::string through_rescue =
      "boot kumo's rescue system (kumo rescue " + name + "), then set it again (kumo set-password " +
      name + "): it is written into the server's disk; then kumo unrescue " + name +
      ". Or log in on the console (kumo console " + name + ") and run passwd";
  if (r->agent == AgentState::kNone) {
    return done(NoGuestAgent(*r, "the password cannot be set through it", through_rescue));
  }
  if (r->agent != AgentState::kOk || !agent) {
    // An image that boots from its disk is rescued by kumo's rescue system,
    // whose agent writes the password into the server's disk.
    if (image && RescuedByKumosSystem(*image)) {
      return done(AgentNotResponding(*r, "the password cannot be set through it", through_rescue));
    }
    return done(AgentNotResponding(*r, "the password cannot be set through it",
                                   "boot into rescue mode (kumo rescue " + name +
                                       "), log in on the console (kumo console " + name +
                                       ") and run passwd; then kumo unrescue " + name));
  }
  // In kumo's rescue system the agent sets it in the server's own disk.
  const bool in_rescue_system =
      r->boot_mode == BootMode::kRescue && image && RescuedByKumosSystem(*image);
  agent->SetUserPassword(
      user, password,
      [this, alive = std::weak_ptr<bool>(alive_), name, user, done, in_rescue_system](Status s) {
        if (alive.expired()) return;
        if (s.code() == codes::kGuestAgentNotResponding) {
          return done(Status(codes::kGuestAgentNotResponding,
                             "the guest agent did not answer: " + s.message(),
                             "try again, or use rescue mode (kumo rescue " + name + ")"));
        }
        if (!s.ok()) {
          return done(Status(codes::kInvalidArgument,
                             "the guest could not set the password: " + s.message(),
                             "does user '" + user + "' exist in the guest?"));
        }
        const std::string set_in =
            in_rescue_system ? "in the server's own disk (its root filesystem's etc/shadow, from "
                               "the rescue system); it applies after kumo unrescue " +
                                   name
                             : "in the guest, through its agent";
        ledger_.Transition(
            name, "agent",
            "password set for user " + user + (in_rescue_system ? " " + set_in : std::string()),
            [](ServerRecord&) {});
        done(set_in);
      });
}

}  // namespace kumo::core
