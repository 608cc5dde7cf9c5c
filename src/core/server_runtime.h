// ServerCore::Runtime: what the core keeps about a server between events,
// never persisted. Private to the core's .cc files.
#pragma once

#include <memory>
#include <string>

#include "core/server_core.h"

namespace kumo::core {

struct ServerCore::Runtime {
  std::shared_ptr<hypervisor::Machine> machine;
  std::shared_ptr<guestlink::AgentLink> agent;
  int missed_pings = 0;
  bool ping_in_flight = false;
  bool reset_seen = false;         // a reboot completes only after the guest reset
  bool guest_powered_off = false;  // QEMU reported a guest-initiated shutdown
  bool force_stopping = false;
  bool delete_after_stop = false;
  bool launch_after_stop = false;  // rescue / unrescue: stop, then boot again
  std::unique_ptr<boost::asio::steady_timer> kill_timer;
  // Rescue / unrescue: forces the guest off if it has not powered off in time.
  std::unique_ptr<boost::asio::steady_timer> restart_timer;
  // The serial console while QEMU runs (server_console.cc).
  std::shared_ptr<console::ConsoleBroker> console;
  // kumo-init's report of the boot with this id is in the timeline already.
  std::string init_reported_boot_id;
  std::unique_ptr<boost::asio::steady_timer> init_poll_timer;
};

}  // namespace kumo::core
