// kumod's state directory: the database, the API token, the servers' run
// directories. Shared with the CLI, which finds the token there.
#pragma once

#include <string>

#include "common/status.h"

namespace kumo {

// $KUMO_STATE_DIR, else /var/lib/kumo for root, else $XDG_STATE_HOME/kumo or
// ~/.local/state/kumo.
std::string DefaultStateDir();

// Makes `dir` kumod's state directory, 0700 with servers/ inside, or refuses
// (InvalidArgument, nothing changed). It takes:
//   - a directory that does not exist yet (created, with its parents);
//   - an empty directory owned by kumod's user;
//   - a state directory of kumo's (owned by kumod's user, holding kumod.lock,
//     kumod.db or token).
// It refuses anything else, e.g. `--state-dir /tmp` or a home directory:
// kumod would make it private (0700), breaking whatever else lives there.
Status PrepareStateDir(const std::string& dir);

// The exclusive hold of one kumod on a state directory: two kumods on one
// directory would each take the other's QEMUs for dead. Held (flock on
// STATE_DIR/kumod.lock, which names the holder's pid) until destroyed or the
// process ends; the descriptor is close-on-exec, so QEMU never inherits it.
class StateDirLock {
 public:
  StateDirLock() = default;
  explicit StateDirLock(int fd) : fd_(fd) {}
  StateDirLock(StateDirLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  StateDirLock& operator=(StateDirLock&& other) noexcept;
  StateDirLock(const StateDirLock&) = delete;
  StateDirLock& operator=(const StateDirLock&) = delete;
  ~StateDirLock();

 private:
  int fd_ = -1;
};

// Takes the lock, or fails at once (InvalidState) naming the pid of the
// kumod that holds it.
Result<StateDirLock> LockStateDir(const std::string& dir);

// Reads STATE_DIR/token, creating it (32 random bytes, hex, mode 0600) on
// first start. Refuses (InvalidState) a token that other users can read or
// write (any group/other bits) or that another user owns: it may have been
// copied, and only the operator can tell whether to tighten it or replace
// it; the message says which file and mode, the hint how to do either.
Result<std::string> LoadOrCreateToken(const std::string& dir);

}  // namespace kumo
