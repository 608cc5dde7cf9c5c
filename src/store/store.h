// Store: kumod's state in an embedded SQLite file (WAL mode, schema
// migrations). It holds servers (spec and facts), each server's event
// timeline, the registered images, and small settings. Every write is a
// transaction; a server change and the event that explains it are written
// together (SaveServer with an event), so the timeline never disagrees with
// the state.
//
// Not thread-safe: kumod uses it from its one event-loop thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

struct sqlite3;

namespace kumo::store {

// A server as stored. Enumerations are stored as the API's strings
// ("running", "unresponsive", "stopping", ...); the core converts them.
struct ServerRecord {
  std::string name;  // primary key
  // spec
  std::string image;
  int vcpus = 1;
  int memory_mib = 256;
  int disk_gib = 1;
  std::string ssh_key;
  std::string user_data;
  // facts and derived status
  std::string power = "off";       // off | running | paused | crashed
  std::string agent = "unknown";   // unknown | ok | unresponsive
  std::string task = "none";       // none | creating | starting | stopping | ...
  int64_t task_started_ms = 0;     // when the task began (0: no task)
  int64_t task_deadline_ms = 0;    // when it counts as stuck
  bool task_force = false;         // the task is forced (force stop, hard reset)
  std::string boot_mode = "normal";  // normal | rescue (single-user, root shell on the console)
  int ssh_port = 0;                // host port forwarded to the guest's :22 (0: none)
  std::string status = "stopped";  // pending | running | warning | stopped | error
  std::string status_reason;       // why, in words, for people
  int64_t agent_last_seen_ms = 0;  // last answer from the guest agent
  int64_t qemu_pid = 0;            // 0 when no QEMU runs
  std::string run_dir;             // per-server sockets, pidfile, disk overlay
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
};

struct EventRecord {
  int64_t id = 0;  // assigned by the store, increasing
  std::string server;
  int64_t time_ms = 0;  // wall clock, milliseconds since the epoch
  std::string kind;     // e.g. "status", "task", "agent", "qemu"
  std::string status;   // the server's status after the event
  std::string message;  // the reason, for people
};

struct ImageRecord {
  std::string name;  // primary key
  std::string kernel;
  std::string initrd;
  std::string disk;     // base qcow2
  std::string cmdline;  // kernel command line
  std::string kernel_release;
  int64_t registered_ms = 0;
};

class Store {
 public:
  // Opens (creating if needed) the database at `path`, sets WAL mode and a
  // busy timeout, and applies pending schema migrations. The file is created
  // with mode 0600.
  static Result<std::unique_ptr<Store>> Open(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  int schema_version() const;

  // Servers. CreateServer fails with AlreadyExists for a taken name.
  Status CreateServer(const ServerRecord& server, const EventRecord& event);
  // Updates every column of an existing server (NotFound otherwise) and, if
  // `event` is given, appends it in the same transaction.
  Status SaveServer(const ServerRecord& server, const std::optional<EventRecord>& event);
  Status DeleteServer(const std::string& name);  // also deletes its events
  std::optional<ServerRecord> GetServer(const std::string& name) const;
  std::vector<ServerRecord> ListServers() const;  // ordered by name

  // Events of one server with id > after_id, oldest first, at most `limit`.
  std::vector<EventRecord> Events(const std::string& server, int64_t after_id = 0,
                                  int limit = 1000) const;

  // Images (re-registering a name replaces it).
  Status PutImage(const ImageRecord& image);
  std::optional<ImageRecord> GetImage(const std::string& name) const;
  std::vector<ImageRecord> ListImages() const;

  // Small settings (key/value), e.g. schema notes.
  Status PutSetting(const std::string& key, const std::string& value);
  std::optional<std::string> GetSetting(const std::string& key) const;

 private:
  explicit Store(sqlite3* db);
  sqlite3* db_;
};

}  // namespace kumo::store
