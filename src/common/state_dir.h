// kumod's state directory: the database, the API token, the servers' run
// directories. Shared with the CLI, which finds the token there.
#pragma once

#include <string>

#include "common/status.h"

namespace kumo {

// $KUMO_STATE_DIR, else /var/lib/kumo for root, else $XDG_STATE_HOME/kumo or
// ~/.local/state/kumo.
std::string DefaultStateDir();

// Creates the directory (0700) if needed.
Status PrepareStateDir(const std::string& dir);

// Reads STATE_DIR/token, creating it (32 random bytes, hex, mode 0600) on
// first start.
Result<std::string> LoadOrCreateToken(const std::string& dir);

}  // namespace kumo
