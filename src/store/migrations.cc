#include "store/migrations.h"

#include <sqlite3.h>

#include <string>

namespace kumo::store {
namespace {

// Text columns are NOT NULL: the records hold plain strings, and "" is the
// empty value. Events go with their server (ON DELETE CASCADE); AUTOINCREMENT
// keeps event ids increasing even after the newest events are deleted.
constexpr char kSchema1[] = R"sql(
CREATE TABLE servers (
  name               TEXT PRIMARY KEY NOT NULL,
  image              TEXT NOT NULL,
  vcpus              INTEGER NOT NULL,
  memory_mib         INTEGER NOT NULL,
  disk_gib           INTEGER NOT NULL,
  ssh_key            TEXT NOT NULL,
  user_data          TEXT NOT NULL,
  power              TEXT NOT NULL,
  agent              TEXT NOT NULL,
  task               TEXT NOT NULL,
  task_started_ms    INTEGER NOT NULL,
  task_deadline_ms   INTEGER NOT NULL,
  status             TEXT NOT NULL,
  status_reason      TEXT NOT NULL,
  agent_last_seen_ms INTEGER NOT NULL,
  qemu_pid           INTEGER NOT NULL,
  run_dir            TEXT NOT NULL,
  created_ms         INTEGER NOT NULL,
  updated_ms         INTEGER NOT NULL
);
CREATE TABLE events (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  server  TEXT NOT NULL REFERENCES servers(name) ON DELETE CASCADE,
  time_ms INTEGER NOT NULL,
  kind    TEXT NOT NULL,
  status  TEXT NOT NULL,
  message TEXT NOT NULL
);
CREATE INDEX events_by_server ON events(server, id);
CREATE TABLE images (
  name           TEXT PRIMARY KEY NOT NULL,
  kernel         TEXT NOT NULL,
  initrd         TEXT NOT NULL,
  disk           TEXT NOT NULL,
  cmdline        TEXT NOT NULL,
  kernel_release TEXT NOT NULL,
  registered_ms  INTEGER NOT NULL
);
CREATE TABLE settings (
  key   TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
);
)sql";

// A forced task (force stop) must be finished the same way after a kumod
// restart; a graceful one is re-asked of the guest.
constexpr char kSchema2[] = R"sql(
ALTER TABLE servers ADD COLUMN task_force INTEGER NOT NULL DEFAULT 0;
)sql";

// Rescue (single-user) boots are remembered so that a restart keeps the mode.
constexpr char kSchema3[] = R"sql(
ALTER TABLE servers ADD COLUMN boot_mode TEXT NOT NULL DEFAULT 'normal';
)sql";

// Each server's SSH forward on the host (127.0.0.1:PORT → guest :22), kept
// across restarts so the address an operator noted stays right.
constexpr char kSchema4[] = R"sql(
ALTER TABLE servers ADD COLUMN ssh_port INTEGER NOT NULL DEFAULT 0;
)sql";

// Optimistic concurrency: each write bumps a server's version and is refused
// when based on an older one. Events outlive their server as one tombstone
// (kind "deleted"), so the events table no longer cascades from servers: it
// is rebuilt without the foreign key (SQLite cannot drop one in place).
constexpr char kSchema5[] = R"sql(
ALTER TABLE servers ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
CREATE TABLE events_v5 (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  server  TEXT NOT NULL,
  time_ms INTEGER NOT NULL,
  kind    TEXT NOT NULL,
  status  TEXT NOT NULL,
  message TEXT NOT NULL
);
INSERT INTO events_v5 (id, server, time_ms, kind, status, message)
  SELECT id, server, time_ms, kind, status, message FROM events;
UPDATE sqlite_sequence
  SET seq = MAX(seq, (SELECT seq FROM sqlite_sequence WHERE name = 'events'))
  WHERE name = 'events_v5';
DROP TABLE events;
ALTER TABLE events_v5 RENAME TO events;
CREATE INDEX events_by_server ON events(server, id);
)sql";

// What an image is (firmware, login user, guest agent, OS, size, format), and
// whether kumod imported it (its files then go with it).
constexpr char kSchema6[] = R"sql(
ALTER TABLE images ADD COLUMN firmware TEXT NOT NULL DEFAULT 'bios';
ALTER TABLE images ADD COLUMN login_user TEXT NOT NULL DEFAULT 'root';
ALTER TABLE images ADD COLUMN agent_kind TEXT NOT NULL DEFAULT 'kumo-agent';
ALTER TABLE images ADD COLUMN os TEXT NOT NULL DEFAULT '';
ALTER TABLE images ADD COLUMN virtual_size_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE images ADD COLUMN format TEXT NOT NULL DEFAULT 'qcow2';
ALTER TABLE images ADD COLUMN imported INTEGER NOT NULL DEFAULT 0;
)sql";

// What applies user data in the image: images of a stock agent are taken to
// bring cloud-init, as the images kumod registered so far did.
constexpr char kSchema7[] = R"sql(
ALTER TABLE images ADD COLUMN user_data_support TEXT NOT NULL DEFAULT 'kumo';
UPDATE images SET user_data_support = 'cloud-init' WHERE agent_kind <> 'kumo-agent';
)sql";

constexpr Migration kMigrations[] = {
    {1, "servers, events, images, settings", kSchema1},
    {2, "servers.task_force", kSchema2},
    {3, "servers.boot_mode", kSchema3},
    {4, "servers.ssh_port", kSchema4},
    {5, "servers.version; events keep a tombstone of deleted servers", kSchema5},
    {6, "images: firmware, login_user, agent_kind, os, virtual_size_bytes, format, imported",
     kSchema6},
    {7, "images.user_data_support", kSchema7},
};

Status SqliteError(sqlite3* db, const std::string& what) {
  return Status(codes::kStoreError, what + ": " + sqlite3_errmsg(db));
}

// Runs constant SQL (one or more statements without parameters).
Status Exec(sqlite3* db, const std::string& sql, const std::string& what) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string message = err != nullptr ? err : sqlite3_errmsg(db);
    sqlite3_free(err);
    return Status(codes::kStoreError, what + ": " + message);
  }
  return Status::Ok();
}

Status TooNew(int found, int known) {
  return Status(codes::kStoreError,
                "database schema version " + std::to_string(found) +
                    " is newer than this kumod knows (" + std::to_string(known) +
                    "); refusing to open it",
                "run a kumod at least as new as the one that last wrote this database");
}

// One step in one transaction. Re-reads the version under the write lock, as
// another kumod may have migrated the file since we looked.
Status ApplyStep(sqlite3* db, const Migration& step, int latest) {
  if (Status s = Exec(db, "BEGIN IMMEDIATE", "begin migration"); !s.ok()) return s;
  Result<int> version = ReadSchemaVersion(db);
  Status s;
  if (!version.ok()) {
    s = version.status();
  } else if (*version > latest) {
    s = TooNew(*version, latest);
  } else if (*version < step.version) {
    s = Exec(db, step.sql, "migration " + std::to_string(step.version) + " (" + step.summary + ")");
    // PRAGMA takes no bound parameters; the number is our own step's.
    if (s.ok()) {
      s = Exec(db, "PRAGMA user_version = " + std::to_string(step.version), "set user_version");
    }
  }
  if (s.ok()) s = Exec(db, "COMMIT", "commit migration");
  if (!s.ok() && !sqlite3_get_autocommit(db)) {
    Exec(db, "ROLLBACK", "roll back migration");
  }
  return s;
}

}  // namespace

std::span<const Migration> KumoMigrations() { return kMigrations; }

int LatestVersion(std::span<const Migration> steps) {
  return steps.empty() ? 0 : steps.back().version;
}

Result<int> ReadSchemaVersion(sqlite3* db) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nullptr) != SQLITE_OK) {
    return SqliteError(db, "read schema version");
  }
  int rc = sqlite3_step(stmt);
  int version = rc == SQLITE_ROW ? sqlite3_column_int(stmt, 0) : 0;
  sqlite3_finalize(stmt);
  if (rc != SQLITE_ROW) return SqliteError(db, "read schema version");
  return version;
}

Status CheckNotNewer(sqlite3* db, std::span<const Migration> steps) {
  Result<int> version = ReadSchemaVersion(db);
  if (!version.ok()) return version.status();
  if (*version > LatestVersion(steps)) return TooNew(*version, LatestVersion(steps));
  return Status::Ok();
}

Status ApplyMigrations(sqlite3* db, std::span<const Migration> steps) {
  for (size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].version != static_cast<int>(i) + 1) {
      return Status(codes::kInternal, "schema migrations are not numbered 1, 2, 3, ...");
    }
  }
  const int latest = LatestVersion(steps);
  Result<int> version = ReadSchemaVersion(db);
  if (!version.ok()) return version.status();
  if (*version > latest) return TooNew(*version, latest);
  for (const Migration& step : steps) {
    if (step.version <= *version) continue;
    if (Status s = ApplyStep(db, step, latest); !s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace kumo::store
