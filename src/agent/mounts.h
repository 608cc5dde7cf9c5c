// The mounted real filesystems the fsfreeze, fstrim and fsinfo commands act
// on, chosen as qemu-ga 7.2 chooses them: every /proc/self/mountinfo entry on
// a block device (major number not 0, so not proc, tmpfs, cgroup…) except
// network filesystems (smbfs, cifs). Listed in mount order; the commands walk
// them backwards so nested mounts come before the ones beneath them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kumo::agent {

struct Mount {
  unsigned major = 0;
  unsigned minor = 0;
  std::string mountpoint;
  std::string type;
  std::string source;
};

// One mountinfo(5) line; nullopt if it is malformed. Octal escapes (\040)
// in paths are decoded.
std::optional<Mount> ParseMountInfoLine(std::string_view line);

bool IsRealFilesystem(const Mount& mount);

// At most kMaxMounts real filesystems, reading at most 1 MiB of mountinfo in
// small chunks.
inline constexpr size_t kMaxMounts = 256;
std::vector<Mount> RealMounts(const char* path = "/proc/self/mountinfo");

}  // namespace kumo::agent
