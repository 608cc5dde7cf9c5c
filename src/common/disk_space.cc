#include "common/disk_space.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstring>

namespace kumo {

Result<DiskSpace> DiskSpaceOf(const std::string& path) {
  struct statvfs st {};
  if (statvfs(path.c_str(), &st) != 0) {
    return Status(codes::kInternal, "statvfs " + path + ": " + std::strerror(errno));
  }
  DiskSpace space;
  space.free_bytes = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  space.total_bytes = static_cast<uint64_t>(st.f_blocks) * st.f_frsize;
  return space;
}

Status SpaceReserve::Restore() {
  if (access(path_.c_str(), F_OK) == 0) return Status::Ok();
  int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status(codes::kInternal, "create " + path_ + ": " + std::strerror(errno));
  int rc = posix_fallocate(fd, 0, static_cast<off_t>(bytes_));
  close(fd);
  if (rc != 0) {
    unlink(path_.c_str());
    return Status(codes::kStoreFull,
                  "cannot reserve " + std::to_string(bytes_ >> 20) + " MiB at " + path_ + ": " +
                      std::strerror(rc),
                  "free space on that filesystem");
  }
  return Status::Ok();
}

bool SpaceReserve::Release() { return unlink(path_.c_str()) == 0; }

}  // namespace kumo
