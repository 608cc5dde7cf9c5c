// Facts about the guest system that QGA's info commands report:
// guest-get-osinfo, guest-get-host-name, guest-network-get-interfaces.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

namespace kumo::agent {

using json = nlohmann::json;

// Parses os-release(5) text into QGA's osinfo fields (id, name, pretty-name,
// version, version-id, variant, variant-id). Unknown keys are ignored.
json ParseOsRelease(std::string_view text);

// guest-get-osinfo: uname plus /etc/os-release (or /usr/lib/os-release).
json OsInfo();

std::string HostName();

// guest-network-get-interfaces: every interface with its hardware address,
// IPv4/IPv6 addresses and prefixes, and traffic statistics.
json NetworkInterfaces();

}  // namespace kumo::agent
