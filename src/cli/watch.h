// Following kumod's change feed, GET /v1/watch (Server-Sent Events), for
// `kumo events --follow` and `kumo list --watch`: the reconnecting loop, and
// how one change is shown (pure).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>

#include "cli/api_client.h"

namespace kumo::cli {

// One `event: server` message of the watch stream.
struct WatchChange {
  std::optional<int64_t> id;  // the timeline event's id, when the change wrote one
  json data;                  // {"server", "status", "record", "event", "deleted", ...}
};

struct WatchPlan {
  std::string server;  // only this server's changes; empty: every server
  // The first connection asks for what came after this event id (none: only
  // new changes); reconnections send Last-Event-ID with the last id seen.
  std::optional<int64_t> after;
  // Called once the first connection is open, before any change (may be
  // empty); returns false to stop at once.
  std::function<bool()> on_open;
  // Called with each change whose id (if it has one) is above every id seen
  // before; returns false to stop following.
  std::function<bool(const WatchChange&)> on_change;
  // Where a lost connection and the reconnection are told (may be null).
  std::ostream* notes = nullptr;
  // No byte for this long (kumod sends a keep-alive every ~15 s): the
  // connection is taken as lost.
  std::chrono::milliseconds idle_limit{45000};
  // Bounds on the wait before reconnecting, whatever `retry:` says.
  std::chrono::milliseconds min_retry{100};
  std::chrono::milliseconds max_retry{30000};
  // Reconnections failing for this long end the watch with their error.
  std::chrono::milliseconds give_up_after{120000};
};

// Follows the watch stream until on_change returns false (then returns the
// last event id seen, 0 if none), reconnecting when kumod closes the
// stream, drops it for being slow, or the connection breaks — without
// printing a change twice or missing one that has an event id. Returns a
// CliError when the first connection fails, on any API error (404: no such
// server; 401), when the stream breaks its size bounds, or when kumod stays
// unreachable for give_up_after.
Outcome<int64_t> FollowWatch(const ApiClient& api, const WatchPlan& plan);

// The current UTC time as the API writes times (2024-05-01T10:00:00.000Z),
// for changes that carry no timeline event.
std::string NowUtc();

}  // namespace kumo::cli
