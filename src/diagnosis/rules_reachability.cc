// Rules about reaching the guest: its agent and its SSH server.
#include "diagnosis/rule_helpers.h"

namespace kumo::diagnosis {

RuleOutcome CheckAgentUnresponsive(const Observation& o) {
  constexpr std::string_view kCode = "agent_unresponsive";
  if (!GuestRunning(o)) return Unknown(kCode, "the server is not running");
  if (o.server.agent == AgentState::kOk) {
    return Clear(kCode, "the agent answered at " + ClockTime(o.server.agent_last_seen_ms));
  }
  if (o.server.agent == AgentState::kNone) {
    return Unknown(kCode, "the server runs no guest agent (its image has agent kind none)");
  }
  if (o.server.agent != AgentState::kUnresponsive) {
    return Unknown(kCode, "the agent has not answered yet during this boot");
  }
  Finding f;
  f.code = std::string(kCode);
  f.severity = Severity::kWarning;
  f.since_ms = o.server.agent_last_seen_ms;
  f.summary = "the guest agent has not answered since " + ClockTime(o.server.agent_last_seen_ms) +
              " (" + Duration(o.now_ms - o.server.agent_last_seen_ms) + ")";
  for (const auto& v : OomVictims(o)) {
    if (IsGuestAgent(v.process)) {
      f.summary += "; the OOM killer killed it at " + ClockTime(v.time_ms);
      break;
    }
  }
  f.evidence.push_back(
      {Source::kHost, o.server.agent_last_seen_ms,
       "kumod's heartbeat: last answer at " + ClockTime(o.server.agent_last_seen_ms)});
  f.actions = {{"console", "the serial console works without the agent"},
               {"force_stop",
                "a graceful stop needs the agent; force stop cuts the power (unsaved data in the "
                "guest is lost)"},
               {"force_reboot", "reset the guest; its agent starts with the boot"}};
  return Found(std::move(f));
}

RuleOutcome CheckSshDown(const Observation& o) {
  constexpr std::string_view kCode = "ssh_down";
  if (!GuestRunning(o)) return Unknown(kCode, "the server is not running");
  if (o.server.boot_mode == BootMode::kRescue)
    return Unknown(kCode, "rescue mode runs no SSH server");
  if (!AgentAnsweredThisBoot(o) && o.ssh.outcome != SshProbe::Outcome::kBanner) {
    return Unknown(kCode, "the guest has not finished booting");
  }
  const bool fresh = HealthIsFresh(o) && o.health->sshd_running.has_value();
  const bool sshd_gone = fresh && !*o.health->sshd_running;
  const bool probe_fails = o.ssh.failures_in_row >= 2;
  if (!sshd_gone && !probe_fails) {
    if (o.ssh.outcome == SshProbe::Outcome::kBanner) {
      return Clear(kCode, "the SSH forward (port " + std::to_string(o.server.ssh_port) +
                              ") answered: " + o.ssh.detail);
    }
    if (fresh)
      return Clear(kCode, o.health->sshd_program + " runs in the guest (pid " +
                              std::to_string(o.health->sshd_pid) + ")");
    return Unknown(kCode, "no SSH forward to probe and no kumo-health from the guest");
  }
  Finding f;
  f.code = std::string(kCode);
  f.severity = Severity::kWarning;
  if (sshd_gone) {
    f.since_ms = o.health_ms;
    f.summary = "SSH is down: no SSH server runs in the guest";
    f.summary += o.server.agent == AgentState::kOk ? " (the agent answers)" : "";
    f.evidence.push_back({Source::kAgent, o.health_ms, "kumo-health: no sshd or dropbear process"});
  }
  if (probe_fails) {
    if (!f.since_ms || o.ssh.failing_since_ms < f.since_ms) f.since_ms = o.ssh.failing_since_ms;
    if (f.summary.empty()) {
      f.summary = "SSH is down: the SSH forward (port " + std::to_string(o.server.ssh_port) +
                  ") sends no SSH banner since " + ClockTime(o.ssh.failing_since_ms);
    }
    f.evidence.push_back(
        {Source::kProbe, o.ssh.time_ms,
         "TCP probe of 127.0.0.1:" + std::to_string(o.server.ssh_port) + ": " + o.ssh.detail});
  }
  f.actions = {{"console", "log in on the serial console and start the SSH server"}};
  if (o.server.agent == AgentState::kOk)
    f.actions.push_back({"exec", "start the SSH server through the agent"});
  f.actions.push_back({"reboot", "starts every service again"});
  return Found(std::move(f));
}

}  // namespace kumo::diagnosis
