#include "daemon/guest_isolation.h"

#include <fstream>
#include <sstream>

#include "hostnet/guest_firewall.h"

namespace kumo::daemon {

Result<std::string> SetUpGuestIsolation(const std::string& mode, const QemuUser& qemu) {
  const std::string warning =
      "kumod: warning: guest isolation is off: guests reach every service on the host's "
      "loopback (kumod's API, other servers' SSH forwards) through 10.0.2.2";
  if (mode == "off") return warning;
  if (!qemu.run_as) {
    if (mode.empty()) return warning + " (kumod does not run as root)";
    return Status(codes::kInvalidState,
                  "guest isolation needs kumod to run as root, with QEMU as a user of its own",
                  "run kumod as root, or start it with --guest-isolation off");
  }
  std::ifstream in("/etc/resolv.conf");
  std::stringstream resolv;
  resolv << in.rdbuf();
  std::vector<std::string> dns = hostnet::LoopbackNameservers(resolv.str());
  std::string script = hostnet::BuildGuestFirewall(qemu.run_as->uid, dns);
  if (Status s = hostnet::ApplyNftScript(script); !s.ok()) return s;
  std::string line = "kumod: guest isolation on: nftables table inet " +
                     std::string(hostnet::kTableName) + " rejects new connections of uid " +
                     std::to_string(qemu.run_as->uid) + " to the host's own addresses";
  if (!dns.empty()) {
    line += " (but DNS to";
    for (const std::string& d : dns) line += " " + d;
    line += ")";
  }
  return line;
}

}  // namespace kumo::daemon
