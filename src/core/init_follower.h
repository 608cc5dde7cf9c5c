// InitFollower: after a normal boot, asks the guest's agent what its user
// data did (kumo-init-status) until kumo-init has run every step, and writes
// one timeline event per step ("init script exited with status 3 (last
// output: …)"), once per boot. Nothing is asked of an agent that is not
// answering its heartbeat; images without kumo-init are left alone.
//
// Runs on kumod's event loop; not thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "common/clock.h"
#include "core/server_ledger.h"
#include "guestlink/guest_agent.h"

namespace kumo::core {

class InitFollower {
 public:
  InitFollower(Clock& clock, ServerLedger& ledger);

  // Follows the boot whose agent is `agent` (replacing any earlier one).
  void Follow(const std::string& name, std::shared_ptr<guestlink::GuestAgent> agent);
  void Forget(const std::string& name);

 private:
  struct Followed {
    std::shared_ptr<guestlink::GuestAgent> agent;
    int64_t give_up_ms = 0;
    std::unique_ptr<Alarm> next_poll;
  };

  void Poll(const std::string& name, const std::shared_ptr<guestlink::GuestAgent>& agent);
  void PollLater(const std::string& name, const std::shared_ptr<guestlink::GuestAgent>& agent);

  Clock& clock_;
  ServerLedger& ledger_;
  std::map<std::string, Followed> followed_;
  // kumo-init's report of the boot with this id is in the timeline already.
  std::map<std::string, std::string> reported_boot_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace kumo::core
