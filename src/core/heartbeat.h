// Heartbeat: asks the agent of every running server "are you there?" every
// interval and turns the answers into the agent's facts through the ledger:
// the first answer after a boot ends the boot's task (a rescue boot's only
// once the agent says it is the rescue system: guest-info's kumo-role, asked
// after that answer; an agent that says otherwise leaves the task overdue, a
// warning with the reason, never "rescue mode"); answers missed in a row
// while the agent was ok turn the server to warning, with the time it was
// last seen. On the same tick it marks tasks that ran past their deadline as
// stuck. It reads servers from the ledger's memory, never lists the store.
// The agents are pinged in kSlices groups (by their server's name's hash),
// one group a tick, interval / kSlices apart: each is still pinged once an
// interval, and the event loop never sends a thousand pings in one go.
//
// Runs on kumod's event loop; not thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/clock.h"
#include "core/server_ledger.h"
#include "guestlink/guest_agent.h"

namespace kumo::core {

class Heartbeat {
 public:
  static constexpr size_t kSlices = 10;

  struct Config {
    std::chrono::milliseconds interval{1000};
    int missed_for_warning = 2;
    // Hears each answered ping's round trip, in seconds (for /metrics).
    std::function<void(double seconds)> on_round_trip;
  };
  // Called after a boot's task ended on the agent's first answer.
  using BootHandler = std::function<void(const ServerRecord&)>;

  Heartbeat(Clock& clock, ServerLedger& ledger, Config config);

  void SetBootHandler(BootHandler handler) { on_boot_ = std::move(handler); }
  // Starts ticking.
  void Start();

  // Pings `agent` for server `name` from the next tick (a fresh count).
  void Watch(const std::string& name, std::shared_ptr<guestlink::GuestAgent> agent);
  void Forget(const std::string& name);
  // A guest going down for a restart is not pinged: its answer would be
  // taken for the new boot's.
  void Pause(const std::string& name);
  // A reboot was asked for: it completes on the first answer after the
  // guest was reset (NoteReset).
  void AwaitReset(const std::string& name);
  void NoteReset(const std::string& name);

 private:
  struct Beat {
    std::shared_ptr<guestlink::GuestAgent> agent;
    size_t slice = 0;  // pinged on this group's ticks
    int missed = 0;
    bool in_flight = false;
    bool paused = false;
    bool reset_seen = false;
    // A rescue boot: the agent's role was asked (in flight), it said
    // "rescue" (confirmed), or it said something else (refused).
    bool role_in_flight = false;
    bool rescue_confirmed = false;
    bool rescue_refused = false;
    // The last answer, exactly: the store's copy is refreshed only every
    // few seconds, and "not responding since" must name the real one.
    int64_t last_answer_ms = 0;
  };

  // Pings the agents of one slice; on the first slice's tick, marks overdue
  // tasks (once an interval, visiting every server).
  void Tick(size_t slice);
  void CheckDeadlines();
  void OnPing(const std::string& name, const std::shared_ptr<guestlink::GuestAgent>& agent,
              bool answered);
  // The agent answers: its facts, and the end of a boot's task.
  void MarkAnswering(const std::string& name, const ServerRecord& r, bool boot_done, int64_t now);
  // A rescue boot's agent answered: is it the rescue system's?
  void AskRole(const std::string& name, const std::shared_ptr<guestlink::GuestAgent>& agent);
  void OnRole(const std::string& name, const Result<std::string>& role);

  Clock& clock_;
  ServerLedger& ledger_;
  Config config_;
  BootHandler on_boot_;
  std::map<std::string, Beat> beats_;
  std::unique_ptr<Alarm> tick_;
  size_t next_slice_ = 0;
  int64_t next_tick_ms_ = 0;  // when the next tick is due (0: not started)
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace kumo::core
