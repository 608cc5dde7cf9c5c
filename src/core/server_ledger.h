// ServerLedger: the one place that loads, changes and notes servers. Each
// change is applied to a server's typed facts, its status derived from them
// (DeriveStatus), and written to the store with the event that explains it,
// in one transaction; only then is it published, as a ServerChange, to every
// subscriber, in commit order — the way ninja's Status interface watches a
// build. The watch stream subscribes today; the diagnosis, the metrics and
// the panel subscribe instead of growing the core.
//
// It keeps the servers in memory (read once from the store at construction),
// so reading them costs no query; every write still goes through the store,
// based on the version it read: a write that lost a race to another writer
// is refused (codes::kConflict) and the ledger re-reads that server.
//
// When the store's filesystem is full (codes::kStoreFull), a Transition or a
// Note is not lost and does not fail: the space reserve (if one is set) is
// given up for it; failing that it is applied in memory, published (its
// event without an id), said "not recorded: the state directory is full",
// and written, in order, once space returns (retried every few seconds).
// Create and Delete still fail: neither is a way out of trouble.
//
// Runs on kumod's event loop; not thread-safe.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "model/records.h"
#include "store/store.h"

namespace kumo::core {

// One committed change to one server.
struct ServerChange {
  ServerRecord server;               // as committed; for a delete, the last record
  std::optional<EventRecord> event;  // the event written with it, with its id
  std::vector<std::string> changed;  // the fields that differ ("power", "status", ...)
  bool deleted = false;
};

class ServerLedger {
 public:
  using Listener = std::function<void(const ServerChange&)>;
  using Change = std::function<void(ServerRecord&)>;

  // Unsubscribes when destroyed (also during a publish).
  class Subscription {
   public:
    Subscription() = default;
    Subscription(Subscription&& other) noexcept;
    Subscription& operator=(Subscription&& other) noexcept;
    ~Subscription();

   private:
    friend class ServerLedger;
    Subscription(std::weak_ptr<bool> alive, ServerLedger* ledger, uint64_t id);
    void Reset();
    std::weak_ptr<bool> alive_;
    ServerLedger* ledger_ = nullptr;
    uint64_t id_ = 0;
  };

  ServerLedger(store::Store& store, Clock& clock);
  ~ServerLedger();
  ServerLedger(const ServerLedger&) = delete;
  ServerLedger& operator=(const ServerLedger&) = delete;

  // NotFound (with a hint) for an unknown name.
  Result<ServerRecord> Get(const std::string& name) const;
  std::vector<ServerRecord> List() const;  // ordered by name
  // Visits every server in place, ordered by name, copying nothing (for the
  // heartbeat's tick). REQUIRES: `visit` changes no server.
  void ForEach(const std::function<void(const ServerRecord&)>& visit) const;

  // Stores a new server: its status is derived, `message` is its first
  // event (kind "task") and, unless the record has one, its status reason.
  Result<ServerRecord> Create(ServerRecord server, const std::string& message);
  // Applies `change`, derives the status, and writes both with an event
  // (kind, message) — written when there is a message or the status changed;
  // the message becomes the status reason.
  Result<ServerRecord> Transition(const std::string& name, const std::string& kind,
                                  const std::string& message, const Change& change);
  // Appends an event to the timeline; the status and its reason stay.
  Status Note(const std::string& name, const std::string& kind, const std::string& message);
  // Removes a server and its timeline; a tombstone event tells watchers.
  Status Delete(const std::string& name);

  // The timeline: events with id > after_id of one server ("" for all).
  std::vector<EventRecord> Events(const std::string& server, int64_t after_id, int limit) const;
  // The newest `limit` events of one server with id < before_id, oldest first.
  std::vector<EventRecord> EventsBefore(const std::string& server, int64_t before_id,
                                        int limit) const;
  int64_t LastEventId() const;

  // `listener` hears every change committed from now on, in commit order,
  // on the event loop.
  [[nodiscard]] Subscription Subscribe(Listener listener);

  int64_t NowMs() const { return clock_.NowMs(); }

  // Space the store may use when its filesystem is full; `release` frees it
  // (true if there was some to free), `restore` takes it back.
  struct SpaceReserve {
    std::function<bool()> release;
    std::function<void()> restore;
  };
  void SetSpaceReserve(SpaceReserve reserve) { reserve_ = std::move(reserve); }
  // Changes applied in memory that the store does not have yet.
  size_t unsaved() const { return dirty_.size() + unsaved_events_.size(); }
  static constexpr std::chrono::milliseconds kUnsavedRetry{2000};
  static constexpr size_t kMaxUnsaved = 1000;

 private:
  Result<ServerRecord> Commit(const ServerRecord& before, const ServerRecord& after,
                              const std::optional<EventRecord>& event);
  void Publish(ServerChange change);
  Result<ServerRecord> KeepUnsaved(const ServerRecord& before, ServerRecord after,
                                   std::optional<EventRecord> event);
  void WriteUnsaved();
  void ScheduleWriteUnsaved();

  store::Store& store_;
  Clock& clock_;
  std::map<std::string, ServerRecord> servers_;
  std::map<uint64_t, Listener> listeners_;
  uint64_t next_listener_ = 1;
  // Changes committed by a listener wait here until the ones before them
  // have reached every listener.
  std::vector<ServerChange> pending_;
  bool publishing_ = false;
  std::set<std::string> dirty_;             // servers whose record the store lacks
  std::deque<EventRecord> unsaved_events_;  // in the order they happened (bounded)
  std::unique_ptr<Alarm> unsaved_alarm_;
  SpaceReserve reserve_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// The fields that differ between two records of one server, by name.
std::vector<std::string> ChangedFields(const ServerRecord& before, const ServerRecord& after);

}  // namespace kumo::core
