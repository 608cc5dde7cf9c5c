// guest-fsfreeze-freeze/-freeze-list/-thaw and guest-fstrim on the real
// filesystems (mounts.h), as qemu-ga 7.2 does them:
//  - freeze: FIFREEZE each mountpoint, nested mounts first; a filesystem
//    that is already frozen through another mountpoint (EBUSY) or cannot be
//    frozen (EOPNOTSUPP) is skipped. Returns how many were frozen. On any
//    other failure it thaws what it froze and fails.
//  - thaw: FITHAW every real mountpoint (repeatedly, in case it was frozen
//    more than once) and returns how many were thawed.
//  - fstrim: FITRIM each mountpoint with the given minimum extent, and
//    reports per path the bytes trimmed or the error.
// The caller keeps the frozen state (QgaDispatcher::SetFrozen). Unlike
// qemu-ga, kumo-agent runs no fsfreeze hook scripts.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "agent/mounts.h"

namespace kumo::agent {

// The mountpoints to freeze, in freezing order: `mounts` backwards, only
// those in `only` when it is given. Mountpoints in `only` that are not
// mounted are ignored, as qemu-ga does.
std::vector<std::string> FreezeOrder(const std::vector<Mount>& mounts,
                                     const std::optional<std::vector<std::string>>& only);

// Returns the number frozen, or nullopt with `err` set (all thawed again).
std::optional<int64_t> FreezeFilesystems(const std::vector<std::string>& order, std::string* err);
int64_t ThawFilesystems(const std::vector<Mount>& mounts);
nlohmann::json TrimFilesystems(const std::vector<Mount>& mounts, uint64_t minimum);

}  // namespace kumo::agent
