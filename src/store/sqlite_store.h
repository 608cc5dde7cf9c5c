// SqliteStore: the Store in an embedded SQLite file (WAL mode, synchronous
// FULL, foreign keys on, schema migrations in migrations.cc). The file is
// created with mode 0600: server specs hold SSH keys and user data.
#pragma once

#include <memory>
#include <string>

#include "store/store.h"

struct sqlite3;

namespace kumo::store {

class SqliteStore : public Store {
 public:
  // Opens (creating if needed) the database at `path` and applies pending
  // migrations; refuses a schema newer than this kumod knows.
  static Result<std::unique_ptr<SqliteStore>> Open(const std::string& path);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  int schema_version() const override;
  // SQLite's own `PRAGMA integrity_check`: Ok, or DataLoss-like Internal with
  // what it found.
  Status CheckIntegrity() const;
  Result<Commit> CreateServer(const ServerRecord& server, const EventRecord& event) override;
  Result<Commit> SaveServer(const ServerRecord& server,
                            const std::optional<EventRecord>& event) override;
  Result<EventRecord> DeleteServer(const std::string& name, const EventRecord& tombstone) override;
  std::optional<ServerRecord> GetServer(const std::string& name) const override;
  std::vector<ServerRecord> ListServers() const override;
  std::vector<EventRecord> Events(const std::string& server, int64_t after_id,
                                  int limit) const override;
  std::vector<EventRecord> EventsBefore(const std::string& server, int64_t before_id,
                                        int limit) const override;
  int64_t LastEventId() const override;
  Status PutImage(const ImageRecord& image) override;
  Status DeleteImage(const std::string& name) override;
  std::optional<ImageRecord> GetImage(const std::string& name) const override;
  std::vector<ImageRecord> ListImages() const override;
  Status PutSetting(const std::string& key, const std::string& value) override;
  std::optional<std::string> GetSetting(const std::string& key) const override;

 private:
  explicit SqliteStore(sqlite3* db);
  sqlite3* db_;
};

}  // namespace kumo::store
