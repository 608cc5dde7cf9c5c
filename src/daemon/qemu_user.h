// Which user kumod runs QEMU as. As root, kumod never runs QEMU as root: it
// runs it as an unprivileged system user of its own (--qemu-user, default
// kumo-qemu) and refuses to start if that user does not exist. Not as root,
// QEMU runs as kumod's own user.
#pragma once

#include <optional>
#include <string>

#include "common/status.h"
#include "hypervisor/spawn.h"

namespace kumo::daemon {

inline constexpr const char* kDefaultQemuUser = "kumo-qemu";

struct QemuUser {
  std::string name;                         // "" when QEMU runs as kumod's user
  std::optional<hypervisor::RunAs> run_as;  // set when kumod runs as root
};

// Looks the user up and, as root, opens the state directory to it for
// traversal only (root:GROUP 0710 on STATE_DIR and STATE_DIR/servers; kumod's
// own files there are made 0600 so that group cannot read them).
// Errors: InvalidArgument (no such user, or it is root; with the useradd
// command as hint), InvalidState (the user cannot reach the state
// directory through its parents).
Result<QemuUser> SetUpQemuUser(const std::string& name, const std::string& state_dir);

// The line kumod logs about it.
std::string Describe(const QemuUser& user);

}  // namespace kumo::daemon
