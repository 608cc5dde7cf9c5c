// The state directory's filesystem and its free space: a figure kumod
// watches (a full disk is when force stop matters most), and a small
// reserve file it gives up when the store can no longer write.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace kumo {

struct DiskSpace {
  uint64_t free_bytes = 0;  // available to kumod (statvfs f_bavail)
  uint64_t total_bytes = 0;
  // Worth a warning: under 5% or under 256 MiB free.
  bool low() const { return free_bytes < (uint64_t{256} << 20) || free_bytes * 20 < total_bytes; }
};

Result<DiskSpace> DiskSpaceOf(const std::string& path);

// A file of `bytes` really allocated (not sparse) at `path`, so that the
// space it holds is there to give back.
class SpaceReserve {
 public:
  static constexpr uint64_t kDefaultBytes = uint64_t{8} << 20;
  SpaceReserve(std::string path, uint64_t bytes) : path_(std::move(path)), bytes_(bytes) {}
  // Makes the file if it is missing; fails (changing nothing) without space.
  Status Restore();
  // Deletes it: true if it held space to give.
  bool Release();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  uint64_t bytes_;
};

}  // namespace kumo
