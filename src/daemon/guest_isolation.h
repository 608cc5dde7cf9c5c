// --guest-isolation: kumod installs the host firewall that keeps guests away
// from the host's own addresses (hostnet/guest_firewall.h). On by default as
// root; kumod refuses to start if it cannot install it, unless told `off`.
#pragma once

#include <string>

#include "common/status.h"
#include "daemon/qemu_user.h"

namespace kumo::daemon {

// `mode`: "on", "off", or "" (not given: on as root, else off). Returns the
// line kumod logs. Errors: InvalidState (on, but QEMU does not run as a user
// of its own), Internal (nft failed), each with a hint.
Result<std::string> SetUpGuestIsolation(const std::string& mode, const QemuUser& qemu);

}  // namespace kumo::daemon
