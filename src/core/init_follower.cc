#include "core/init_follower.h"

#include "core/init_report.h"

namespace kumo::core {

namespace {
constexpr std::chrono::milliseconds kPollEvery{2000};
// A user-data script may start a long job in the foreground; after this long
// the timeline says so and kumod stops asking.
constexpr int64_t kFollowAtMostMs = 60 * 60 * 1000;
}  // namespace

InitFollower::InitFollower(Clock& clock, ServerLedger& ledger) : clock_(clock), ledger_(ledger) {}

void InitFollower::Follow(const std::string& name, std::shared_ptr<guestlink::GuestAgent> agent) {
  Followed& f = followed_[name];
  f.agent = agent;
  f.give_up_ms = clock_.NowMs() + kFollowAtMostMs;
  f.next_poll.reset();
  Poll(name, agent);
}

void InitFollower::Forget(const std::string& name) { followed_.erase(name); }

void InitFollower::PollLater(const std::string& name,
                             const std::shared_ptr<guestlink::GuestAgent>& agent) {
  auto it = followed_.find(name);
  if (it == followed_.end() || it->second.agent != agent) return;
  it->second.next_poll =
      clock_.After(kPollEvery, [this, alive = std::weak_ptr<bool>(alive_), name, agent] {
        if (!alive.expired()) Poll(name, agent);
      });
}

void InitFollower::Poll(const std::string& name,
                        const std::shared_ptr<guestlink::GuestAgent>& agent) {
  auto it = followed_.find(name);
  auto r = ledger_.Get(name);
  // Another boot (or none) has this server now: its own poll reports.
  if (it == followed_.end() || it->second.agent != agent || !r.ok()) return;
  if (clock_.NowMs() > it->second.give_up_ms) {
    ledger_.Note(name, "init", "user data still running after an hour; not followed further");
    followed_.erase(it);
    return;
  }
  if (r->agent != AgentState::kOk) return PollLater(name, agent);
  agent->InitStatus(
      [this, alive = std::weak_ptr<bool>(alive_), name, agent](Result<nlohmann::json> reply) {
        if (alive.expired()) return;
        auto it = followed_.find(name);
        if (it == followed_.end() || it->second.agent != agent) return;  // a newer boot
        // No record to follow: the command is unknown, or neither kumo-init
        // nor cloud-init has recorded anything.
        if (!reply.ok() && reply.status().code() == codes::kGuestCommandFailed) {
          return Forget(name);
        }
        if (!reply.ok()) return PollLater(name, agent);
        InitReport report = ReadInitReport(*reply);
        if (!report.finished) return PollLater(name, agent);
        Forget(name);
        if (report.boot_id == reported_boot_[name]) return;
        reported_boot_[name] = report.boot_id;
        for (const auto& message : report.messages) ledger_.Note(name, "init", message);
      });
}

}  // namespace kumo::core
