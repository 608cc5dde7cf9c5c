// Store: where kumod keeps its state — servers (spec, facts, status), each
// server's event timeline, the registered images and small settings. An
// interface (like leveldb's DB): SqliteStore is the embedded default
// (sqlite_store.h); a PostgreSQL store that several hosts share comes later.
//
// The promises every backend keeps:
// - a server change and the event that explains it are written in one
//   transaction, so the timeline never disagrees with the state;
// - optimistic concurrency: every stored server carries a version, bumped by
//   each write; a write based on an older version is refused with
//   codes::kConflict, never silently applied over the newer one;
// - event ids increase across all servers and are never reused, so "events
//   after id N" is a resumable feed (the watch stream replays from it).
//
// Not thread-safe: kumod uses it from its one event-loop thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/records.h"

namespace kumo::store {

// What a server write committed.
struct Commit {
  ServerRecord server;               // as stored, with its new version
  std::optional<EventRecord> event;  // the event written with it, with its id
};

class Store {
 public:
  virtual ~Store() = default;

  virtual int schema_version() const = 0;

  // Stores a new server (version 1) with its first event. AlreadyExists for
  // a taken name.
  virtual Result<Commit> CreateServer(const ServerRecord& server, const EventRecord& event) = 0;
  // Writes every field of `server` if the stored version is still
  // server.version (the one it was read at), and appends `event` if given.
  // Conflict when another writer got there first; NotFound when gone.
  virtual Result<Commit> SaveServer(const ServerRecord& server,
                                    const std::optional<EventRecord>& event) = 0;
  // Deletes a server and its timeline, leaving only `tombstone` (its server
  // name, kind "deleted"), so that a watcher resuming from an older event id
  // learns of the deletion. Returns the tombstone with its id.
  virtual Result<EventRecord> DeleteServer(const std::string& name,
                                           const EventRecord& tombstone) = 0;
  virtual std::optional<ServerRecord> GetServer(const std::string& name) const = 0;
  virtual std::vector<ServerRecord> ListServers() const = 0;  // ordered by name

  // Events with id > after_id, oldest first, at most `limit`: of one server,
  // or of every server (tombstones included) when `server` is empty.
  virtual std::vector<EventRecord> Events(const std::string& server, int64_t after_id,
                                          int limit) const = 0;
  // The newest `limit` events of one server with id < before_id, returned
  // oldest first (paging back through a timeline from its end).
  virtual std::vector<EventRecord> EventsBefore(const std::string& server, int64_t before_id,
                                                int limit) const = 0;
  // The newest event id (0: none yet).
  virtual int64_t LastEventId() const = 0;

  // Images (re-registering a name replaces it).
  virtual Status PutImage(const ImageRecord& image) = 0;
  // Removes the record only (NotFound when there is none).
  virtual Status DeleteImage(const std::string& name) = 0;
  virtual std::optional<ImageRecord> GetImage(const std::string& name) const = 0;
  virtual std::vector<ImageRecord> ListImages() const = 0;

  // Small settings (key/value).
  virtual Status PutSetting(const std::string& key, const std::string& value) = 0;
  virtual std::optional<std::string> GetSetting(const std::string& key) const = 0;
};

}  // namespace kumo::store
