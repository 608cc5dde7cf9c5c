#include "store/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "store/migrations.h"

namespace kumo::store {
namespace {

constexpr int kBusyTimeoutMs = 5000;

Status SqliteError(sqlite3* db, std::string_view what) {
  const int code = sqlite3_errcode(db);
  if (code == SQLITE_FULL || sqlite3_system_errno(db) == ENOSPC) {
    // Said in the operator's words, with the directory, not SQLite's.
    const char* file = sqlite3_db_filename(db, "main");
    const std::string path = file && *file ? file : "the store";
    const std::string dir = std::filesystem::path(path).parent_path().string();
    return Status(codes::kStoreFull,
                  "the state directory's filesystem is full: cannot write " + path + " (" +
                      std::string(what) + ")",
                  "free space on the filesystem of " + dir + " (df -h " + dir + ")");
  }
  return Status(codes::kStoreError, std::string(what) + ": " + sqlite3_errmsg(db));
}

// A prepared statement, finalized on scope exit. Bound text is SQLITE_STATIC:
// callers keep the strings alive until the statement is done.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
      status_ = SqliteError(db, std::string("prepare \"") + sql + "\"");
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // The first failure so far (preparing or binding).
  const Status& status() const { return status_; }

  Statement& Bind(const std::string& text) {
    if (status_.ok()) {
      Check(sqlite3_bind_text(stmt_, ++index_, text.data(), static_cast<int>(text.size()),
                              SQLITE_STATIC));
    }
    return *this;
  }
  // `text` must outlive the statement: the static names of the enums do.
  Statement& Bind(std::string_view text) {
    if (status_.ok()) {
      Check(sqlite3_bind_text(stmt_, ++index_, text.data(), static_cast<int>(text.size()),
                              SQLITE_STATIC));
    }
    return *this;
  }
  Statement& Bind(int64_t value) {
    if (status_.ok()) Check(sqlite3_bind_int64(stmt_, ++index_, value));
    return *this;
  }

  // SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return status_.ok() ? sqlite3_step(stmt_) : SQLITE_MISUSE; }

  // Runs a statement that returns no rows.
  Status Run(std::string_view what) {
    if (!status_.ok()) return status_;
    if (Step() != SQLITE_DONE) return SqliteError(db_, what);
    return Status::Ok();
  }

  std::string Text(int column) const {
    const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
    return data == nullptr ? std::string() : std::string(data, sqlite3_column_bytes(stmt_, column));
  }
  int64_t Int(int column) const { return sqlite3_column_int64(stmt_, column); }

 private:
  void Check(int rc) {
    if (rc != SQLITE_OK) status_ = SqliteError(db_, "bind parameter");
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  Status status_;
  int index_ = 0;
};

// BEGIN IMMEDIATE on construction; rolled back on scope exit unless
// committed, so every early error return undoes the partial write.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) {
    status_ = Statement(db, "BEGIN IMMEDIATE").Run("begin transaction");
  }
  ~Transaction() {
    if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  const Status& status() const { return status_; }
  Status Commit() { return Statement(db_, "COMMIT").Run("commit transaction"); }

 private:
  sqlite3* db_;
  Status status_;
};

// The first row `sql` returns with `binds` bound in order, read by `read`;
// std::nullopt when there is none (or the query fails).
template <typename Read, typename... Binds>
auto QueryOne(sqlite3* db, const std::string& sql, Read read, const Binds&... binds)
    -> std::optional<std::invoke_result_t<Read, const Statement&>> {
  Statement stmt(db, sql.c_str());
  (stmt.Bind(binds), ...);
  if (stmt.Step() != SQLITE_ROW) return std::nullopt;
  return read(stmt);
}

// Every row `sql` returns, read by `read`; none when the query fails.
template <typename Read>
auto QueryAll(sqlite3* db, const std::string& sql, Read read)
    -> std::vector<std::invoke_result_t<Read, const Statement&>> {
  Statement stmt(db, sql.c_str());
  std::vector<std::invoke_result_t<Read, const Statement&>> rows;
  while (stmt.Step() == SQLITE_ROW) rows.push_back(read(stmt));
  return rows;
}

constexpr char kServerColumns[] =
    "name, image, vcpus, memory_mib, disk_gib, ssh_key, user_data, power, agent, task, "
    "task_started_ms, task_deadline_ms, status, status_reason, agent_last_seen_ms, qemu_pid, "
    "run_dir, created_ms, updated_ms, task_force, boot_mode, ssh_port, version";

// The row: servers' enumerations are stored as the API's words
// ("running", "unresponsive", "stopping", ...).

// Binds every column but name and version, in kServerColumns order.
void BindServerFields(Statement& stmt, const ServerRecord& s) {
  stmt.Bind(s.image)
      .Bind(int64_t{s.vcpus})
      .Bind(int64_t{s.memory_mib})
      .Bind(int64_t{s.disk_gib})
      .Bind(s.ssh_key)
      .Bind(s.user_data)
      .Bind(ToString(s.power))
      .Bind(ToString(s.agent))
      .Bind(ToString(s.task))
      .Bind(s.task_started_ms)
      .Bind(s.task_deadline_ms)
      .Bind(ToString(s.status))
      .Bind(s.status_reason)
      .Bind(s.agent_last_seen_ms)
      .Bind(s.qemu_pid)
      .Bind(s.run_dir)
      .Bind(s.created_ms)
      .Bind(s.updated_ms)
      .Bind(int64_t{s.task_force ? 1 : 0})
      .Bind(ToString(s.boot_mode))
      .Bind(int64_t{s.ssh_port});
}

// A word this kumod does not know (a newer kumod wrote it) reads as the
// safe default: off, unknown, no task, normal boot, stopped.
ServerRecord ReadServer(const Statement& stmt) {
  ServerRecord s;
  s.name = stmt.Text(0);
  s.image = stmt.Text(1);
  s.vcpus = static_cast<int>(stmt.Int(2));
  s.memory_mib = static_cast<int>(stmt.Int(3));
  s.disk_gib = static_cast<int>(stmt.Int(4));
  s.ssh_key = stmt.Text(5);
  s.user_data = stmt.Text(6);
  s.power = ParsePower(stmt.Text(7)).value_or(Power::kOff);
  s.agent = ParseAgentState(stmt.Text(8)).value_or(AgentState::kUnknown);
  s.task = ParseTask(stmt.Text(9)).value_or(Task::kNone);
  s.task_started_ms = stmt.Int(10);
  s.task_deadline_ms = stmt.Int(11);
  s.status = ParseStatus(stmt.Text(12)).value_or(ServerStatus::kStopped);
  s.status_reason = stmt.Text(13);
  s.agent_last_seen_ms = stmt.Int(14);
  s.qemu_pid = stmt.Int(15);
  s.run_dir = stmt.Text(16);
  s.created_ms = stmt.Int(17);
  s.updated_ms = stmt.Int(18);
  s.task_force = stmt.Int(19) != 0;
  s.boot_mode = ParseBootMode(stmt.Text(20)).value_or(BootMode::kNormal);
  s.ssh_port = static_cast<int>(stmt.Int(21));
  s.version = stmt.Int(22);
  return s;
}

constexpr char kImageColumns[] =
    "name, kernel, initrd, disk, cmdline, kernel_release, registered_ms, firmware, login_user, "
    "agent_kind, os, virtual_size_bytes, format, imported, user_data_support";

ImageRecord ReadImage(const Statement& stmt) {
  ImageRecord i;
  i.name = stmt.Text(0);
  i.kernel = stmt.Text(1);
  i.initrd = stmt.Text(2);
  i.disk = stmt.Text(3);
  i.cmdline = stmt.Text(4);
  i.kernel_release = stmt.Text(5);
  i.registered_ms = stmt.Int(6);
  i.firmware = stmt.Text(7);
  i.login_user = stmt.Text(8);
  i.agent_kind = stmt.Text(9);
  i.os = stmt.Text(10);
  i.virtual_size_bytes = stmt.Int(11);
  i.format = stmt.Text(12);
  i.imported = stmt.Int(13) != 0;
  i.user_data_support = stmt.Text(14);
  return i;
}

// Appends `event` to `server`'s timeline; the store assigns the id. An event
// naming another server is a caller bug, not something to file elsewhere.
Result<EventRecord> InsertEvent(sqlite3* db, const std::string& server, const EventRecord& event) {
  if (!event.server.empty() && event.server != server) {
    return Status(codes::kInvalidArgument, "event for server \"" + event.server +
                                               "\" written with server \"" + server + "\"");
  }
  Statement stmt(db,
                 "INSERT INTO events (server, time_ms, kind, status, message) "
                 "VALUES (?, ?, ?, ?, ?)");
  stmt.Bind(server).Bind(event.time_ms).Bind(event.kind).Bind(event.status).Bind(event.message);
  if (Status s = stmt.Run("insert event"); !s.ok()) return s;
  EventRecord stored = event;
  stored.id = sqlite3_last_insert_rowid(db);
  stored.server = server;
  return stored;
}

EventRecord ReadEvent(const Statement& stmt) {
  EventRecord e;
  e.id = stmt.Int(0);
  e.server = stmt.Text(1);
  e.time_ms = stmt.Int(2);
  e.kind = stmt.Text(3);
  e.status = stmt.Text(4);
  e.message = stmt.Text(5);
  return e;
}

// Creates `path` with mode 0600 unless it exists. Returns whether it did.
Result<bool> CreateFile(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return false;
    return Status(codes::kStoreError, "create " + path + ": " + std::strerror(errno));
  }
  // The umask may have taken bits away; the store needs read and write.
  int rc = fchmod(fd, 0600);
  int saved = errno;
  close(fd);
  if (rc != 0) return Status(codes::kStoreError, "chmod " + path + ": " + std::strerror(saved));
  return true;
}

// Server specs hold SSH keys and user data: nobody else may read the file.
Status RestrictMode(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return Status(codes::kStoreError, "stat " + path + ": " + std::strerror(errno));
  }
  if ((st.st_mode & 07777) != 0600 && chmod(path.c_str(), 0600) != 0) {
    return Status(codes::kStoreError, "chmod " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

// Runs a PRAGMA that answers with one text value and checks the answer.
Status SetPragma(sqlite3* db, const char* sql, std::string_view expect) {
  Statement stmt(db, sql);
  if (!stmt.status().ok()) return stmt.status();
  int rc = stmt.Step();
  if (rc == SQLITE_DONE && expect.empty()) return Status::Ok();
  if (rc != SQLITE_ROW) return SqliteError(db, sql);
  if (!expect.empty() && stmt.Text(0) != expect) {
    return Status(codes::kStoreError, std::string(sql) + ": got \"" + stmt.Text(0) + "\", want \"" +
                                          std::string(expect) + "\"");
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path) {
  Result<bool> created = CreateFile(path);
  if (!created.ok()) return created.status();

  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  // From here the Store owns db and closes it on every return.
  std::unique_ptr<SqliteStore> store(new SqliteStore(db));
  if (rc != SQLITE_OK) {
    return Status(
        codes::kStoreError,
        "open " + path + ": " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, kBusyTimeoutMs);

  // Refuse a newer schema before anything (journal_mode, chmod) writes.
  if (Status s = CheckNotNewer(db, KumoMigrations()); !s.ok()) {
    return Status(s.code(), path + ": " + s.message(), s.hint());
  }

  if (!created.value()) {
    if (Status s = RestrictMode(path); !s.ok()) return s;
  }
  // FULL: a change reported to a client has reached the disk.
  if (Status s = SetPragma(db, "PRAGMA journal_mode = WAL", "wal"); !s.ok()) return s;
  if (Status s = SetPragma(db, "PRAGMA synchronous = FULL", ""); !s.ok()) return s;
  if (Status s = SetPragma(db, "PRAGMA foreign_keys = ON", ""); !s.ok()) return s;
  if (Status s = ApplyMigrations(db, KumoMigrations()); !s.ok()) {
    return Status(s.code(), path + ": " + s.message(), s.hint());
  }
  return store;
}

SqliteStore::SqliteStore(sqlite3* db) : db_(db) {}

SqliteStore::~SqliteStore() { sqlite3_close_v2(db_); }

int SqliteStore::schema_version() const {
  Result<int> version = ReadSchemaVersion(db_);
  return version.ok() ? *version : -1;
}

Status SqliteStore::CheckIntegrity() const {
  std::vector<std::string> problems =
      QueryAll(db_, "PRAGMA integrity_check", [](const Statement& s) { return s.Text(0); });
  if (problems.size() == 1 && problems[0] == "ok") return Status::Ok();
  std::string what;
  for (const std::string& p : problems) what += (what.empty() ? "" : "; ") + p;
  return Status(codes::kInternal, "the store failed its integrity check: " +
                                      (what.empty() ? std::string("no answer") : what));
}

Result<Commit> SqliteStore::CreateServer(const ServerRecord& server, const EventRecord& event) {
  Transaction txn(db_);
  if (!txn.status().ok()) return txn.status();
  // A tombstone left by an earlier server of that name goes: the timeline
  // is the new server's.
  Statement old_events(db_, "DELETE FROM events WHERE server = ?");
  old_events.Bind(server.name);
  if (Status s = old_events.Run("delete old events"); !s.ok()) return s;
  Statement insert(
      db_, (std::string("INSERT INTO servers (") + kServerColumns +
            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)")
               .c_str());
  insert.Bind(server.name);
  BindServerFields(insert, server);
  if (!insert.status().ok()) return insert.status();
  int rc = insert.Step();
  if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
    return Status(codes::kAlreadyExists, "server \"" + server.name + "\" already exists");
  }
  if (rc != SQLITE_DONE) return SqliteError(db_, "insert server");
  Result<EventRecord> stored = InsertEvent(db_, server.name, event);
  if (!stored.ok()) return stored.status();
  if (Status s = txn.Commit(); !s.ok()) return s;
  Commit commit{server, *stored};
  commit.server.version = 1;
  return commit;
}

Result<Commit> SqliteStore::SaveServer(const ServerRecord& server,
                                       const std::optional<EventRecord>& event) {
  Transaction txn(db_);
  if (!txn.status().ok()) return txn.status();
  Statement update(db_,
                   "UPDATE servers SET image = ?, vcpus = ?, memory_mib = ?, disk_gib = ?, "
                   "ssh_key = ?, user_data = ?, power = ?, agent = ?, task = ?, "
                   "task_started_ms = ?, task_deadline_ms = ?, status = ?, status_reason = ?, "
                   "agent_last_seen_ms = ?, qemu_pid = ?, run_dir = ?, created_ms = ?, "
                   "updated_ms = ?, task_force = ?, boot_mode = ?, ssh_port = ?, "
                   "version = version + 1 WHERE name = ? AND version = ?");
  BindServerFields(update, server);
  update.Bind(server.name).Bind(server.version);
  if (Status s = update.Run("update server"); !s.ok()) return s;
  if (sqlite3_changes(db_) == 0) {
    Statement current(db_, "SELECT version FROM servers WHERE name = ?");
    current.Bind(server.name);
    if (current.Step() != SQLITE_ROW) {
      return Status(codes::kNotFound, "server \"" + server.name + "\" not found");
    }
    return Status(codes::kConflict,
                  "server \"" + server.name + "\" was changed by another writer (version " +
                      std::to_string(current.Int(0)) + ", this write was based on " +
                      std::to_string(server.version) + ")",
                  "read it again and retry");
  }
  Commit commit{server, std::nullopt};
  commit.server.version = server.version + 1;
  if (event.has_value()) {
    Result<EventRecord> stored = InsertEvent(db_, server.name, *event);
    if (!stored.ok()) return stored.status();
    commit.event = *stored;
  }
  if (Status s = txn.Commit(); !s.ok()) return s;
  return commit;
}

Result<EventRecord> SqliteStore::DeleteServer(const std::string& name,
                                              const EventRecord& tombstone) {
  Transaction txn(db_);
  if (!txn.status().ok()) return txn.status();
  Statement events(db_, "DELETE FROM events WHERE server = ?");
  events.Bind(name);
  if (Status s = events.Run("delete events"); !s.ok()) return s;
  Statement server(db_, "DELETE FROM servers WHERE name = ?");
  server.Bind(name);
  if (Status s = server.Run("delete server"); !s.ok()) return s;
  if (sqlite3_changes(db_) == 0) {
    return Status(codes::kNotFound, "server \"" + name + "\" not found");
  }
  Result<EventRecord> stored = InsertEvent(db_, name, tombstone);
  if (!stored.ok()) return stored.status();
  if (Status s = txn.Commit(); !s.ok()) return s;
  return stored;
}

std::optional<ServerRecord> SqliteStore::GetServer(const std::string& name) const {
  return QueryOne(db_, std::string("SELECT ") + kServerColumns + " FROM servers WHERE name = ?",
                  ReadServer, name);
}

std::vector<ServerRecord> SqliteStore::ListServers() const {
  return QueryAll(db_, std::string("SELECT ") + kServerColumns + " FROM servers ORDER BY name",
                  ReadServer);
}

std::vector<EventRecord> SqliteStore::Events(const std::string& server, int64_t after_id,
                                             int limit) const {
  std::vector<EventRecord> events;
  if (limit <= 0) return events;
  const char* sql = server.empty()
                        ? "SELECT id, server, time_ms, kind, status, message FROM events "
                          "WHERE id > ? ORDER BY id LIMIT ?"
                        : "SELECT id, server, time_ms, kind, status, message FROM events "
                          "WHERE server = ? AND id > ? ORDER BY id LIMIT ?";
  Statement stmt(db_, sql);
  if (!server.empty()) stmt.Bind(server);
  stmt.Bind(after_id).Bind(int64_t{limit});
  while (stmt.Step() == SQLITE_ROW) events.push_back(ReadEvent(stmt));
  return events;
}

std::vector<EventRecord> SqliteStore::EventsBefore(const std::string& server, int64_t before_id,
                                                   int limit) const {
  std::vector<EventRecord> events;
  if (limit <= 0) return events;
  Statement stmt(db_,
                 "SELECT id, server, time_ms, kind, status, message FROM events "
                 "WHERE server = ? AND id < ? ORDER BY id DESC LIMIT ?");
  stmt.Bind(server).Bind(before_id).Bind(int64_t{limit});
  while (stmt.Step() == SQLITE_ROW) events.push_back(ReadEvent(stmt));
  std::reverse(events.begin(), events.end());
  return events;
}

int64_t SqliteStore::LastEventId() const {
  // sqlite_sequence keeps AUTOINCREMENT's high-water mark, also past
  // deleted rows.
  Statement stmt(db_, "SELECT seq FROM sqlite_sequence WHERE name = 'events'");
  return stmt.Step() == SQLITE_ROW ? stmt.Int(0) : 0;
}

Status SqliteStore::PutImage(const ImageRecord& image) {
  Transaction txn(db_);
  if (!txn.status().ok()) return txn.status();
  Statement stmt(db_,
                 "INSERT INTO images (name, kernel, initrd, disk, cmdline, kernel_release, "
                 "registered_ms, firmware, login_user, agent_kind, os, virtual_size_bytes, "
                 "format, imported, user_data_support) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                 "ON CONFLICT (name) DO UPDATE SET kernel = excluded.kernel, "
                 "initrd = excluded.initrd, disk = excluded.disk, cmdline = excluded.cmdline, "
                 "kernel_release = excluded.kernel_release, "
                 "registered_ms = excluded.registered_ms, firmware = excluded.firmware, "
                 "login_user = excluded.login_user, agent_kind = excluded.agent_kind, "
                 "os = excluded.os, virtual_size_bytes = excluded.virtual_size_bytes, "
                 "format = excluded.format, imported = excluded.imported, "
                 "user_data_support = excluded.user_data_support");
  stmt.Bind(image.name)
      .Bind(image.kernel)
      .Bind(image.initrd)
      .Bind(image.disk)
      .Bind(image.cmdline)
      .Bind(image.kernel_release)
      .Bind(image.registered_ms)
      .Bind(image.firmware)
      .Bind(image.login_user)
      .Bind(image.agent_kind)
      .Bind(image.os)
      .Bind(image.virtual_size_bytes)
      .Bind(image.format)
      .Bind(static_cast<int64_t>(image.imported ? 1 : 0))
      .Bind(image.user_data_support);
  if (Status s = stmt.Run("put image"); !s.ok()) return s;
  return txn.Commit();
}

Status SqliteStore::DeleteImage(const std::string& name) {
  Transaction txn(db_);
  if (!txn.status().ok()) return txn.status();
  Statement stmt(db_, "DELETE FROM images WHERE name = ?");
  stmt.Bind(name);
  if (Status s = stmt.Run("delete image"); !s.ok()) return s;
  if (sqlite3_changes(db_) == 0) {
    return Status(codes::kNotFound, "no image named \"" + name + "\"");
  }
  return txn.Commit();
}

std::optional<ImageRecord> SqliteStore::GetImage(const std::string& name) const {
  return QueryOne(db_, std::string("SELECT ") + kImageColumns + " FROM images WHERE name = ?",
                  ReadImage, name);
}

std::vector<ImageRecord> SqliteStore::ListImages() const {
  return QueryAll(db_, std::string("SELECT ") + kImageColumns + " FROM images ORDER BY name",
                  ReadImage);
}

Status SqliteStore::PutSetting(const std::string& key, const std::string& value) {
  Transaction txn(db_);
  if (!txn.status().ok()) return txn.status();
  Statement stmt(db_,
                 "INSERT INTO settings (key, value) VALUES (?, ?) "
                 "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
  stmt.Bind(key).Bind(value);
  if (Status s = stmt.Run("put setting"); !s.ok()) return s;
  return txn.Commit();
}

std::optional<std::string> SqliteStore::GetSetting(const std::string& key) const {
  Statement stmt(db_, "SELECT value FROM settings WHERE key = ?");
  stmt.Bind(key);
  if (stmt.Step() != SQLITE_ROW) return std::nullopt;
  return stmt.Text(0);
}

}  // namespace kumo::store
