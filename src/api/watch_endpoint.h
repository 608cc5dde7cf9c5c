// WatchEndpoint: GET /v1/watch, the live change feed as Server-Sent Events.
// Every change the ledger commits is sent to every watcher (of all servers,
// or of one with ?server=NAME) as an `event: server` message whose data is
// JSON: {"server", "status", "record" (the server as GET /v1/servers/NAME
// shows it; null when replayed or deleted), "event" (the timeline event
// written with the change, or null), "changed" (field names), "deleted",
// "replayed"}. A message with a timeline event carries its id as the SSE id,
// so a watcher that reconnects with Last-Event-ID (or ?after=ID) is first
// sent, from the store, the events it missed — no gap, nothing twice — and
// then the live feed. Memory per watcher is bounded by its EventStream.
//
// Runs on kumod's event loop; not thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "api/api_types.h"
#include "api/event_stream.h"
#include "core/server_ledger.h"

namespace kumo::api {

class WatchEndpoint {
 public:
  // At most this many missed events are replayed on a reconnect; past it the
  // watcher is told to reload (event: reload) and then gets the live feed.
  static constexpr int kMaxReplay = 1000;

  explicit WatchEndpoint(core::ServerLedger& ledger);
  ~WatchEndpoint();

  // Answers GET /v1/watch (already authorized): 400 for a malformed
  // after/Last-Event-ID, 404 for ?server= naming no server, else the
  // streaming response.
  ApiResponse Open(const ApiRequest& request);

  size_t watchers() const { return watchers_.size(); }
  // The ledger whose changes it sends (the router's list reads it too).
  core::ServerLedger& ledger() const { return ledger_; }

 private:
  struct Watcher;
  void Attach(uint64_t id, std::shared_ptr<EventStream> stream, std::string server,
              std::optional<int64_t> after);
  void Drop(uint64_t id);
  // Sends a committed change to every watcher that wants it, rendered once
  // for all of them.
  void OnChange(const core::ServerChange& change);

  core::ServerLedger& ledger_;
  std::map<uint64_t, std::unique_ptr<Watcher>> watchers_;
  uint64_t next_id_ = 1;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  core::ServerLedger::Subscription subscription_;
};

// The messages, pure: a committed change, and an event replayed from the
// store.
SseMessage ChangeMessage(const core::ServerChange& change);
SseMessage ReplayMessage(const EventRecord& event);

}  // namespace kumo::api
