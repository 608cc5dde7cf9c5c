#include "api/watch_endpoint.h"

#include <optional>
#include <vector>

#include "api/router.h"

namespace kumo::api {

struct WatchEndpoint::Watcher {
  std::shared_ptr<EventStream> stream;
  std::string server;   // "" for every server
  int64_t last_id = 0;  // the newest event id sent
};

namespace {

json ChangeData(const std::string& server, const std::string& status) {
  return {{"server", server},         {"status", status}, {"record", nullptr}, {"event", nullptr},
          {"changed", json::array()}, {"deleted", false}, {"replayed", false}};
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

SseMessage ChangeMessage(const core::ServerChange& change) {
  const ServerRecord& r = change.server;
  json data = ChangeData(r.name, change.deleted ? "deleted" : std::string(ToString(r.status)));
  if (!change.deleted) data["record"] = ServerJson(r);
  if (change.event) data["event"] = EventJson(*change.event);
  data["changed"] = change.changed;
  data["deleted"] = change.deleted;
  // An event kept in memory while the store was full has no id yet: it
  // cannot be resumed from.
  const bool has_id = change.event && change.event->id > 0;
  return {has_id ? std::to_string(change.event->id) : "", "server", Dump(data)};
}

SseMessage ReplayMessage(const EventRecord& e) {
  json data = ChangeData(e.server, e.status);
  data["event"] = EventJson(e);
  data["deleted"] = e.kind == "deleted";
  data["replayed"] = true;
  return {std::to_string(e.id), "server", Dump(data)};
}

// One subscription for every watcher: a change is heard before any watcher
// attached after it reads its replay, both on this thread, so a change is
// either in the store when the replay reads it or sent afterwards.
WatchEndpoint::WatchEndpoint(core::ServerLedger& ledger) : ledger_(ledger) {
  subscription_ = ledger_.Subscribe([this](const core::ServerChange& c) { OnChange(c); });
}

void WatchEndpoint::OnChange(const core::ServerChange& change) {
  const int64_t event_id = change.event ? change.event->id : 0;
  std::optional<SseMessage> message;
  // A send that fails drops its watcher (and may close its stream): the
  // watchers are looked up by id, never iterated while one goes.
  std::vector<uint64_t> ids;
  ids.reserve(watchers_.size());
  for (const auto& [id, w] : watchers_) ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = watchers_.find(id);
    if (it == watchers_.end()) continue;
    Watcher& w = *it->second;
    if (!w.server.empty() && change.server.name != w.server) continue;
    if (event_id > 0 && event_id <= w.last_id) continue;  // replayed already
    if (event_id > 0) w.last_id = event_id;
    if (!message) message = ChangeMessage(change);
    if (!w.stream->Send(*message)) Drop(id);
  }
}

WatchEndpoint::~WatchEndpoint() {
  *alive_ = false;
  for (auto& [id, w] : watchers_) {
    w->stream->SetCloseHandler(nullptr);
    w->stream->Close();
  }
}

ApiResponse WatchEndpoint::Open(const ApiRequest& req) {
  std::optional<int64_t> after;
  std::string given = req.last_event_id;
  const char* from = "Last-Event-ID";
  if (given.empty()) {
    if (auto it = req.query.find("after"); it != req.query.end()) {
      given = it->second;
      from = "after";
    }
  }
  if (!given.empty()) {
    try {
      size_t used = 0;
      long long v = std::stoll(given, &used);
      if (used != given.size() || v < 0) throw std::out_of_range("");
      after = v;
    } catch (const std::exception&) {
      return ErrorResponse(400, codes::kInvalidArgument,
                           std::string(from) + " must be an event id (an integer from 0)");
    }
  }
  std::string server;
  if (auto it = req.query.find("server"); it != req.query.end()) {
    server = it->second;
    if (auto r = ledger_.Get(server); !r.ok()) return ErrorResponse(r.status());
  }
  ApiResponse response;
  response.stream = [this, alive = std::weak_ptr<bool>(alive_), server,
                     after](std::shared_ptr<EventStream> stream) {
    if (alive.expired()) return stream->Close();
    Attach(next_id_++, std::move(stream), server, after);
  };
  return response;
}

void WatchEndpoint::Attach(uint64_t id, std::shared_ptr<EventStream> stream, std::string server,
                           std::optional<int64_t> after) {
  auto owned = std::make_unique<Watcher>();
  Watcher* w = owned.get();
  w->stream = std::move(stream);
  w->server = std::move(server);
  watchers_.emplace(id, std::move(owned));
  std::weak_ptr<bool> alive = alive_;
  w->stream->SetCloseHandler([this, alive, id] {
    if (!alive.expired()) Drop(id);
  });
  if (!after) {
    w->last_id = ledger_.LastEventId();
    return;
  }
  w->last_id = *after;
  auto missed = ledger_.Events(w->server, *after, kMaxReplay + 1);
  bool truncated = missed.size() > static_cast<size_t>(kMaxReplay);
  if (truncated) missed.resize(kMaxReplay);
  for (const EventRecord& e : missed) {
    w->last_id = e.id;
    if (!w->stream->Send(ReplayMessage(e))) return Drop(id);
  }
  if (truncated) {
    // The rest would not fit one client's queue: the watcher re-reads the
    // list and follows from the newest event.
    w->last_id = ledger_.LastEventId();
    json data = {{"reason", "more than " + std::to_string(kMaxReplay) +
                                " events were missed; read the servers again"},
                 {"last_id", w->last_id}};
    if (!w->stream->Send({std::to_string(w->last_id), "reload", Dump(data)})) Drop(id);
  }
}

void WatchEndpoint::Drop(uint64_t id) {
  auto it = watchers_.find(id);
  if (it == watchers_.end()) return;
  // The stream may be the one calling.
  std::unique_ptr<Watcher> w = std::move(it->second);
  watchers_.erase(it);
  w->stream->SetCloseHandler(nullptr);
  w->stream->Close();
}

}  // namespace kumo::api
