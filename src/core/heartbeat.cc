#include "core/heartbeat.h"

#include <algorithm>

#include "core/task.h"

namespace kumo::core {

namespace {
// "Last seen" is kept fresh in the store this often, without an event.
constexpr int64_t kLastSeenRefreshMs = 10000;
}  // namespace

Heartbeat::Heartbeat(Clock& clock, ServerLedger& ledger, Config config)
    : clock_(clock), ledger_(ledger), config_(config) {}

// The ticks keep to a fixed beat: each is planned a tenth of the interval
// after the one before, not after that one ended, or every tick's own work
// would stretch the interval (and the time to notice a silent agent). After
// a stall or a clock step of more than a tick, the beat starts again from now.
void Heartbeat::Start() {
  const int64_t period = std::chrono::milliseconds(config_.interval / kSlices).count();
  const int64_t now = clock_.NowMs();
  next_tick_ms_ = next_tick_ms_ ? next_tick_ms_ + period : now + period;
  if (next_tick_ms_ < now - period || next_tick_ms_ > now + period) next_tick_ms_ = now + period;
  tick_ = clock_.After(std::chrono::milliseconds(std::max<int64_t>(0, next_tick_ms_ - now)),
                       [this, alive = std::weak_ptr<bool>(alive_)] {
                         if (alive.expired()) return;
                         Tick(next_slice_);
                         next_slice_ = (next_slice_ + 1) % kSlices;
                         Start();
                       });
}

void Heartbeat::Watch(const std::string& name, std::shared_ptr<guestlink::GuestAgent> agent) {
  Beat& beat = beats_[name];
  beat = Beat{};
  beat.agent = std::move(agent);
  beat.slice = std::hash<std::string>{}(name) % kSlices;
}

void Heartbeat::Forget(const std::string& name) { beats_.erase(name); }

void Heartbeat::Pause(const std::string& name) {
  if (auto it = beats_.find(name); it != beats_.end()) it->second.paused = true;
}

void Heartbeat::AwaitReset(const std::string& name) {
  if (auto it = beats_.find(name); it != beats_.end()) it->second.reset_seen = false;
}

void Heartbeat::NoteReset(const std::string& name) {
  if (auto it = beats_.find(name); it != beats_.end()) {
    it->second.reset_seen = true;
    it->second.missed = 0;
  }
}

void Heartbeat::Tick(size_t slice) {
  if (slice == 0) CheckDeadlines();  // once an interval, as the pings
  // Answer within the interval, or it counts as missed.
  auto timeout =
      std::max(std::chrono::milliseconds(100), config_.interval - std::chrono::milliseconds(50));
  for (auto& [name, beat] : beats_) {
    if (beat.slice != slice || !beat.agent || beat.in_flight || beat.paused) continue;
    beat.in_flight = true;
    std::string server = name;
    auto agent = beat.agent;
    auto sent = std::chrono::steady_clock::now();
    agent->Ping(timeout, [this, alive = std::weak_ptr<bool>(alive_), server, agent, sent](bool ok) {
      if (alive.expired()) return;
      if (ok && config_.on_round_trip) {
        config_.on_round_trip(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count());
      }
      OnPing(server, agent, ok);
    });
  }
}

void Heartbeat::CheckDeadlines() {
  // Every tick: the servers are visited in place, not copied (a record
  // holds its user data); the few overdue ones are marked afterwards.
  int64_t now = clock_.NowMs();
  std::vector<std::pair<std::string, std::string>> stuck;  // name, reason
  ledger_.ForEach([&](const ServerRecord& r) {
    if (r.task == Task::kNone || r.status == ServerStatus::kWarning) return;
    if (r.task_deadline_ms == 0 || now <= r.task_deadline_ms) return;
    stuck.emplace_back(r.name, "stuck in " + std::string(ToString(r.task)) + " since " +
                                   FormatUtc(r.task_started_ms));
  });
  for (const auto& [name, reason] : stuck) {
    ledger_.Transition(name, "task", reason, [](ServerRecord&) {});
  }
}

void Heartbeat::OnPing(const std::string& name, const std::shared_ptr<guestlink::GuestAgent>& agent,
                       bool answered) {
  auto it = beats_.find(name);
  // Another boot (or none) has this server now: this answer is old news.
  if (it == beats_.end() || it->second.agent != agent) return;
  Beat& beat = it->second;
  beat.in_flight = false;
  if (beat.paused) return;
  auto r = ledger_.Get(name);
  if (!r.ok()) return;
  int64_t now = clock_.NowMs();
  if (answered) {
    beat.missed = 0;
    beat.last_answer_ms = now;
    bool boot_done = IsBootTask(r->task) || (r->task == Task::kRebooting && beat.reset_seen);
    if (boot_done && r->boot_mode == BootMode::kRescue && !beat.rescue_confirmed) {
      AskRole(name, agent);
    } else if (r->agent != AgentState::kOk || boot_done) {
      MarkAnswering(name, *r, boot_done, now);
    } else if (now - r->agent_last_seen_ms > kLastSeenRefreshMs) {
      ledger_.Transition(name, "agent", "", [&](ServerRecord& s) { s.agent_last_seen_ms = now; });
    }
    return;
  }
  ++beat.missed;
  // The guest was asked to go down: its agent may well stop answering, and
  // the task's deadline tells a guest that hangs instead.
  if ((r->task == Task::kStopping || r->task == Task::kRebooting) && !r->task_force) return;
  if (beat.missed >= config_.missed_for_warning && r->agent == AgentState::kOk) {
    const int64_t last = std::max(beat.last_answer_ms, r->agent_last_seen_ms);
    std::string since = last ? FormatUtc(last) : "boot";
    ledger_.Transition(name, "agent", "guest agent not responding since " + since,
                       [last](ServerRecord& s) {
                         s.agent = AgentState::kUnresponsive;
                         s.agent_last_seen_ms = last;
                       });
  }
}

void Heartbeat::MarkAnswering(const std::string& name, const ServerRecord& r, bool boot_done,
                              int64_t now) {
  std::string message = r.agent == AgentState::kUnresponsive ? "guest agent answering again"
                                                             : "guest agent answering";
  if (boot_done && r.boot_mode == BootMode::kRescue) {
    message =
        "rescue mode: the rescue system's agent answers; root shell on the serial console "
        "(kumo console " +
        name + ")";
  }
  auto done = ledger_.Transition(name, "agent", message, [&](ServerRecord& s) {
    s.agent = AgentState::kOk;
    s.agent_last_seen_ms = now;
    if (boot_done) EndTask(s);
  });
  if (done.ok() && boot_done && on_boot_) on_boot_(*done);
}

void Heartbeat::AskRole(const std::string& name,
                        const std::shared_ptr<guestlink::GuestAgent>& agent) {
  Beat& beat = beats_[name];
  if (beat.role_in_flight || beat.rescue_refused) return;
  beat.role_in_flight = true;
  agent->GetAgentIdentity([this, alive = std::weak_ptr<bool>(alive_), name,
                           agent](Result<guestlink::AgentIdentity> id) {
    if (alive.expired()) return;
    auto it = beats_.find(name);
    if (it == beats_.end() || it->second.agent != agent) return;  // another boot's
    it->second.role_in_flight = false;
    if (it->second.paused) return;
    OnRole(name, id.ok() ? Result<std::string>(id->role) : Result<std::string>(id.status()));
  });
}

void Heartbeat::OnRole(const std::string& name, const Result<std::string>& role) {
  // No answer: asked again after the next ping's.
  if (!role.ok() && role.status().code() == codes::kGuestAgentNotResponding) return;
  auto r = ledger_.Get(name);
  if (!r.ok() || r->boot_mode != BootMode::kRescue) return;
  const bool boot_done = IsBootTask(r->task) || r->task == Task::kRebooting;
  if (!boot_done) return;
  Beat& beat = beats_[name];
  const int64_t now = clock_.NowMs();
  if (role.ok() && *role == "rescue") {
    beat.rescue_confirmed = true;
    MarkAnswering(name, *r, true, now);
    return;
  }
  beat.rescue_refused = true;
  std::string says = !role.ok()      ? "it cannot say what it is: " + role.status().message()
                     : role->empty() ? "it names no role, so it is not kumo-agent"
                                     : "it says it runs a " + *role + " boot";
  // The task is left overdue (a warning with this reason): the guest booted
  // its own system, which ignored the rescue boot.
  ledger_.Transition(name, "agent",
                     "rescue failed: the guest's agent answers, but it is not the rescue "
                     "system (" +
                         says +
                         "); the guest booted its own system instead. Force stop it (kumo stop "
                         "--force " +
                         name + ") or use the console (kumo console " + name + ")",
                     [&](ServerRecord& s) {
                       s.agent = AgentState::kOk;
                       s.agent_last_seen_ms = now;
                       s.task_deadline_ms = std::min(s.task_deadline_ms, now - 1);
                     });
}

}  // namespace kumo::core
