#include "core/server_ledger.h"

#include <utility>

#include "core/server_status.h"

namespace kumo::core {

namespace {

Status NoSuchServer(const std::string& name) {
  return Status(codes::kNotFound, "no server named '" + name + "'", "list servers: kumo list");
}

const std::string kNotRecorded = " (not recorded: the state directory is full)";

Facts FactsOf(const ServerRecord& r, int64_t now_ms) {
  Facts f;
  f.power = r.power;
  f.agent = r.agent;
  f.task = r.task;
  f.task_overdue = r.task != Task::kNone && r.task_deadline_ms > 0 && now_ms > r.task_deadline_ms;
  return f;
}

}  // namespace

std::vector<std::string> ChangedFields(const ServerRecord& a, const ServerRecord& b) {
  std::vector<std::string> out;
  auto check = [&out](bool differs, const char* name) {
    if (differs) out.emplace_back(name);
  };
  check(a.image != b.image, "image");
  check(a.vcpus != b.vcpus, "vcpus");
  check(a.memory_mib != b.memory_mib, "memory_mib");
  check(a.disk_gib != b.disk_gib, "disk_gib");
  check(a.ssh_key != b.ssh_key, "ssh_key");
  check(a.user_data != b.user_data, "user_data");
  check(a.power != b.power, "power");
  check(a.agent != b.agent, "agent");
  check(a.task != b.task, "task");
  check(a.task_started_ms != b.task_started_ms, "task_started");
  check(a.task_deadline_ms != b.task_deadline_ms, "task_deadline");
  check(a.task_force != b.task_force, "task_force");
  check(a.boot_mode != b.boot_mode, "boot_mode");
  check(a.ssh_port != b.ssh_port, "ssh_port");
  check(a.status != b.status, "status");
  check(a.status_reason != b.status_reason, "status_reason");
  check(a.agent_last_seen_ms != b.agent_last_seen_ms, "agent_last_seen");
  check(a.qemu_pid != b.qemu_pid, "qemu_pid");
  check(a.run_dir != b.run_dir, "run_dir");
  return out;
}

// --- subscriptions -----------------------------------------------------------

ServerLedger::Subscription::Subscription(std::weak_ptr<bool> alive, ServerLedger* ledger,
                                         uint64_t id)
    : alive_(std::move(alive)), ledger_(ledger), id_(id) {}

ServerLedger::Subscription::Subscription(Subscription&& other) noexcept
    : alive_(std::move(other.alive_)), ledger_(other.ledger_), id_(other.id_) {
  other.ledger_ = nullptr;
}

ServerLedger::Subscription& ServerLedger::Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    Reset();
    alive_ = std::move(other.alive_);
    ledger_ = other.ledger_;
    id_ = other.id_;
    other.ledger_ = nullptr;
  }
  return *this;
}

ServerLedger::Subscription::~Subscription() { Reset(); }

void ServerLedger::Subscription::Reset() {
  if (ledger_ != nullptr && !alive_.expired()) ledger_->listeners_.erase(id_);
  ledger_ = nullptr;
}

ServerLedger::Subscription ServerLedger::Subscribe(Listener listener) {
  uint64_t id = next_listener_++;
  listeners_.emplace(id, std::move(listener));
  return Subscription(alive_, this, id);
}

// --- reading -----------------------------------------------------------------

ServerLedger::ServerLedger(store::Store& store, Clock& clock) : store_(store), clock_(clock) {
  for (ServerRecord& r : store_.ListServers()) {
    std::string name = r.name;
    servers_.emplace(std::move(name), std::move(r));
  }
}

ServerLedger::~ServerLedger() { *alive_ = false; }

Result<ServerRecord> ServerLedger::Get(const std::string& name) const {
  auto it = servers_.find(name);
  if (it == servers_.end()) return NoSuchServer(name);
  return it->second;
}

std::vector<ServerRecord> ServerLedger::List() const {
  std::vector<ServerRecord> out;
  out.reserve(servers_.size());
  for (const auto& [name, r] : servers_) out.push_back(r);
  return out;
}

void ServerLedger::ForEach(const std::function<void(const ServerRecord&)>& visit) const {
  for (const auto& [name, r] : servers_) visit(r);
}

std::vector<EventRecord> ServerLedger::Events(const std::string& server, int64_t after_id,
                                              int limit) const {
  return store_.Events(server, after_id, limit);
}

std::vector<EventRecord> ServerLedger::EventsBefore(const std::string& server, int64_t before_id,
                                                    int limit) const {
  return store_.EventsBefore(server, before_id, limit);
}

int64_t ServerLedger::LastEventId() const { return store_.LastEventId(); }

// --- writing -----------------------------------------------------------------

Result<ServerRecord> ServerLedger::Create(ServerRecord r, const std::string& message) {
  if (servers_.count(r.name)) {
    return Status(codes::kAlreadyExists, "a server named '" + r.name + "' already exists",
                  "choose another name, or delete the old server first");
  }
  int64_t now = clock_.NowMs();
  r.created_ms = r.updated_ms = now;
  r.status = DeriveStatus(FactsOf(r, now));
  if (r.status_reason.empty()) r.status_reason = message;
  EventRecord event{0, r.name, now, "task", std::string(ToString(r.status)), message};
  auto commit = store_.CreateServer(r, event);
  if (!commit.ok()) return commit.status();
  servers_[r.name] = commit->server;
  ServerRecord before;  // everything is new
  before.name = r.name;
  Publish({commit->server, commit->event, ChangedFields(before, commit->server), false});
  return commit->server;
}

Result<ServerRecord> ServerLedger::Transition(const std::string& name, const std::string& kind,
                                              const std::string& message, const Change& change) {
  auto it = servers_.find(name);
  if (it == servers_.end()) return NoSuchServer(name);
  const ServerRecord before = it->second;
  ServerRecord after = before;
  change(after);
  int64_t now = clock_.NowMs();
  after.status = DeriveStatus(FactsOf(after, now));
  // An error's reason (the guest kernel panicked, say) stays while the
  // server stays in error: what follows (its agent falling silent) is news
  // for the timeline, not the cause.
  const bool error_goes_on =
      before.status == ServerStatus::kError && after.status == ServerStatus::kError;
  if (!message.empty() && !error_goes_on) after.status_reason = message;
  after.updated_ms = now;
  std::optional<EventRecord> event;
  if (!message.empty() || after.status != before.status) {
    std::string status(ToString(after.status));
    event = EventRecord{0, name, now, kind, status, message.empty() ? status : message};
  }
  return Commit(before, after, event);
}

Status ServerLedger::Note(const std::string& name, const std::string& kind,
                          const std::string& message) {
  auto it = servers_.find(name);
  if (it == servers_.end()) return NoSuchServer(name);
  const ServerRecord& r = it->second;
  EventRecord event{0, name, clock_.NowMs(), kind, std::string(ToString(r.status)), message};
  return Commit(r, r, event).status();
}

Result<ServerRecord> ServerLedger::Commit(const ServerRecord& before, const ServerRecord& after,
                                          const std::optional<EventRecord>& event) {
  // Changes waiting for space go first: the store keeps them in order.
  if (!dirty_.empty()) return KeepUnsaved(before, after, event);
  auto commit = store_.SaveServer(after, event);
  if (!commit.ok() && commit.status().code() == codes::kStoreFull && reserve_.release &&
      reserve_.release()) {
    commit = store_.SaveServer(after, event);  // into the space the reserve held
  }
  if (!commit.ok() && commit.status().code() == codes::kStoreFull) {
    return KeepUnsaved(before, after, event);
  }
  if (!commit.ok()) {
    // Another writer changed it: what it wrote is the truth from now on.
    if (commit.status().code() == codes::kConflict) {
      if (auto fresh = store_.GetServer(after.name)) servers_[after.name] = *fresh;
    }
    return commit.status();
  }
  servers_[after.name] = commit->server;
  Publish({commit->server, commit->event, ChangedFields(before, commit->server), false});
  return commit->server;
}

Result<ServerRecord> ServerLedger::KeepUnsaved(const ServerRecord& before, ServerRecord after,
                                               std::optional<EventRecord> event) {
  if (event) {
    // The store gets the event as it was; watchers and readers hear that it
    // is not recorded yet.
    if (unsaved_events_.size() >= kMaxUnsaved) unsaved_events_.pop_front();
    unsaved_events_.push_back(*event);
    if (!event->message.empty()) {
      if (after.status_reason == event->message) after.status_reason += kNotRecorded;
      event->message += kNotRecorded;
    }
  }
  after.version = before.version;  // what the store still has
  servers_[after.name] = after;
  dirty_.insert(after.name);
  if (!unsaved_alarm_) ScheduleWriteUnsaved();
  Publish({after, event, ChangedFields(before, after), false});
  return after;
}

void ServerLedger::ScheduleWriteUnsaved() {
  unsaved_alarm_ = clock_.After(kUnsavedRetry, [this, alive = std::weak_ptr<bool>(alive_)] {
    if (alive.expired()) return;
    unsaved_alarm_.reset();
    WriteUnsaved();
  });
}

void ServerLedger::WriteUnsaved() {
  // Saves a server as it is now; once written, its reason is no longer
  // "not recorded". False while the store is still full (a conflict: the
  // store's version wins, nothing more to write).
  auto save = [this](ServerRecord& r, const std::optional<EventRecord>& event) {
    ServerRecord written = r;
    std::string& reason = written.status_reason;
    if (reason.ends_with(kNotRecorded)) reason.resize(reason.size() - kNotRecorded.size());
    auto commit = store_.SaveServer(written, event);
    if (commit.ok()) r = commit->server;
    return commit.ok() || commit.status().code() != codes::kStoreFull;
  };
  while (!unsaved_events_.empty()) {
    const EventRecord& event = unsaved_events_.front();
    if (auto it = servers_.find(event.server); it != servers_.end()) {
      if (!save(it->second, event)) return ScheduleWriteUnsaved();
    }
    unsaved_events_.pop_front();
  }
  while (!dirty_.empty()) {
    if (auto it = servers_.find(*dirty_.begin()); it != servers_.end()) {
      if (!save(it->second, std::nullopt)) return ScheduleWriteUnsaved();
    }
    dirty_.erase(dirty_.begin());
  }
  if (reserve_.restore) reserve_.restore();
}

Status ServerLedger::Delete(const std::string& name) {
  auto it = servers_.find(name);
  if (it == servers_.end()) return NoSuchServer(name);
  EventRecord tombstone{0, name, clock_.NowMs(), "deleted", "deleted", "deleted"};
  auto stored = store_.DeleteServer(name, tombstone);
  if (!stored.ok()) return stored.status();
  ServerRecord last = std::move(it->second);
  servers_.erase(it);
  Publish({std::move(last), *stored, {}, true});
  return Status::Ok();
}

void ServerLedger::Publish(ServerChange change) {
  pending_.push_back(std::move(change));
  if (publishing_) return;  // the loop below, further up the stack, sends it
  publishing_ = true;
  std::weak_ptr<bool> alive = alive_;
  for (size_t i = 0; i < pending_.size(); ++i) {
    ServerChange current = std::move(pending_[i]);
    std::vector<uint64_t> ids;
    for (const auto& [id, listener] : listeners_) ids.push_back(id);
    for (uint64_t id : ids) {
      auto it = listeners_.find(id);  // it may have unsubscribed meanwhile
      if (it == listeners_.end()) continue;
      Listener listener = it->second;  // a copy: it may unsubscribe itself
      listener(current);
      if (alive.expired()) return;
    }
  }
  pending_.clear();
  publishing_ = false;
}

}  // namespace kumo::core
