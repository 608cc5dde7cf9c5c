// GuestFirewall: what a guest may reach on the host. QEMU's user-mode
// network (slirp) turns a guest's connection into a socket of the QEMU
// process, and 10.0.2.2 into the host's 127.0.0.1; without a rule, a guest
// reaches kumod's API, other guests' SSH forwards and every local service.
// QEMU runs as a user of its own (--qemu-user), so one nftables table of
// kumod's, `inet kumo_guests`, rejects every new connection that user opens
// to any address of the host itself (`fib daddr type local`: loopback and the
// host's own addresses) or a link-local one (a cloud's metadata service,
// 169.254.169.254, would hand out the host's credentials), except DNS to a
// loopback resolver that slirp
// forwards the guest's 10.0.2.3 to. Replies on connections into QEMU (the
// SSH forwards) are not new, so they flow; the outside world stays reachable.
//
// The table is replaced atomically at each kumod start, and stays when kumod
// stops: the guests keep running.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace kumo::hostnet {

inline constexpr const char* kTableName = "kumo_guests";

// The nameservers of a resolv.conf that are loopback addresses (127.0.0.0/8,
// ::1), in canonical form; anything that does not parse is left out.
std::vector<std::string> LoopbackNameservers(std::string_view resolv_conf);

// The nft script (for `nft -f -`) that creates or atomically replaces the
// table for QEMU's uid, with port 53 open to `loopback_dns` (as returned by
// LoopbackNameservers). Pure: text only.
std::string BuildGuestFirewall(uid_t qemu_uid, const std::vector<std::string>& loopback_dns);

// Runs `nft -f -` (argv, no shell) with the script on its stdin.
// Errors: Internal, with nft's own message and a hint.
Status ApplyNftScript(const std::string& script, const std::string& nft = "nft");

}  // namespace kumo::hostnet
