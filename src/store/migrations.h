// The store's schema history: numbered steps, each applied once, in order,
// in its own transaction; the version reached is kept in PRAGMA user_version.
// A step is never edited once released; a schema change is a new step.
#pragma once

#include <span>

#include "common/status.h"

struct sqlite3;

namespace kumo::store {

struct Migration {
  int version;          // 1, 2, 3, ...: the user_version after this step
  const char* summary;  // for error messages
  const char* sql;      // constant statements; no values are ever spliced in
};

// kumod's schema steps, oldest first.
std::span<const Migration> KumoMigrations();

// The schema version the given steps lead to (0 for none).
int LatestVersion(std::span<const Migration> steps);

// Reads PRAGMA user_version.
Result<int> ReadSchemaVersion(sqlite3* db);

// Fails with kStoreError, naming both versions, if the database's schema is
// newer than `steps` know. Only reads.
Status CheckNotNewer(sqlite3* db, std::span<const Migration> steps);

// Applies every step newer than the database's user_version, each in a
// BEGIN IMMEDIATE transaction that also sets user_version; a failing step is
// rolled back and stops the run. Fails with kStoreError, changing nothing, if
// the database is newer than `steps` know.
// REQUIRES: steps numbered 1, 2, 3, ... in order; no transaction open on db.
Status ApplyMigrations(sqlite3* db, std::span<const Migration> steps);

}  // namespace kumo::store
