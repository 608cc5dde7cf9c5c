// ServerCore::Runtime: what the core keeps about a server's running QEMU
// between events, never persisted. Private to the core's .cc files.
#pragma once

#include <memory>
#include <string>

#include "core/server_core.h"

namespace kumo::core {

struct ServerCore::Runtime {
  std::shared_ptr<hypervisor::Machine> machine;
  std::shared_ptr<guestlink::GuestAgent> agent;
  bool guest_powered_off = false;  // QEMU reported a guest-initiated shutdown
  bool force_stopping = false;
  bool delete_after_stop = false;
  bool launch_after_stop = false;  // rescue / unrescue: stop, then boot again
  // A launch, or a re-attach after kumod restarted, is under way: its
  // machine is not known yet. A force stop or a delete asked meanwhile is
  // carried out when it arrives.
  bool launching = false;
  int64_t last_reset_ms = 0;  // when QEMU last reported a reset
  // The guest's agent: when it last closed its channel (0: open), and its
  // pid as kumo-health last told (0: unknown, or a stock agent).
  int64_t agent_channel_closed_ms = 0;
  int64_t agent_pid = 0;
  // The agent guest-info says answers in this QEMU ("kumo-agent" |
  // "qemu-ga"; "" until asked, or when it did not say): it wins over the
  // image's agent_kind (a user may have installed kumo-agent into a stock
  // image).
  std::string agent_seen;
  std::unique_ptr<Alarm> agent_pid_alarm;  // asks a restarted agent its pid again
  std::unique_ptr<Alarm> kill_alarm;
  // Rescue / unrescue: forces the guest off if it has not powered off in time.
  std::unique_ptr<Alarm> restart_alarm;
  // kumo stop --acpi: gives up on the power button after stop_timeout.
  std::unique_ptr<Alarm> power_button_alarm;
  // The serial console while QEMU runs (server_console.cc).
  std::shared_ptr<console::ConsoleBroker> console;
};

// Ok when no task is under way, else ServerBusy naming it.
Status CheckIdle(const ServerRecord& r);

// kumo-health's agent_pid, or 0 (no answer, a stock agent).
int64_t AgentPidOf(const Result<nlohmann::json>& health);

// "The guest agent of web is not responding (last answer …), so CONSEQUENCE":
// the one error for every operation that needs the agent.
Status AgentNotResponding(const ServerRecord& r, const std::string& consequence,
                          const std::string& hint);

// "Server web runs no guest agent (its image plain has agent kind none), so
// CONSEQUENCE": the error (409) for what needs an agent on such a server.
Status NoGuestAgent(const ServerRecord& r, const std::string& consequence,
                    const std::string& hint);

// Whether a server of `image` is rescued by kumo's rescue system (its disk
// attached) rather than by its own kernel with kumo.rescue: an image that
// boots from its disk, and one whose agent is not kumo-agent (only
// kumo-agent can say that it runs a rescue boot).
bool RescuedByKumosSystem(const ImageRecord& image);

}  // namespace kumo::core
