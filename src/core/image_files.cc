#include "core/image_files.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <filesystem>
#include <vector>

namespace kumo::core {
namespace {

using hypervisor::DescribeBytes;
using hypervisor::DiskImageInfo;

constexpr size_t kChunk = 1 << 20;

Status Invalid(const char* field, const std::string& message, const std::string& hint = "") {
  return Status(codes::kInvalidArgument, message, hint).set_field(field);
}

Status Errno(const std::string& what) {
  return Status(codes::kInternal, what + ": " + strerror(errno));
}

bool AllZero(const char* p, size_t n) {
  return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

}  // namespace

Staging::~Staging() {
  if (disk_fd >= 0) close(disk_fd);
  if (dir_fd >= 0) close(dir_fd);
  if (!placed && !dir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
}

Result<std::unique_ptr<Staging>> Stage(const std::string& name, const std::string& images_dir,
                                       const std::optional<hypervisor::RunAs>& run_as) {
  auto staging = std::make_unique<Staging>();
  std::string tmp = images_dir + "/" + kImportPrefix + name + "-XXXXXX";
  if (!mkdtemp(tmp.data())) return Errno("create " + tmp);
  staging->dir = tmp;
  staging->dir_fd = open(tmp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (staging->dir_fd < 0) return Errno("open " + tmp);
  if (Status s = GiveToGroup(staging->dir_fd, run_as, 0710); !s.ok()) return s;
  staging->disk_fd =
      openat(staging->dir_fd, "disk", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (staging->disk_fd < 0) return Errno("create the image copy");
  if (Status s = GiveToGroup(staging->disk_fd, run_as, 0640); !s.ok()) return s;
  return staging;
}

Result<int> OpenSource(const std::string& path, off_t* size) {
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    if (errno == ELOOP) return Invalid("path", path + " is a symlink; give the file itself");
    return Invalid("path", "cannot open " + path + ": " + strerror(errno),
                   "give a file kumod may read");
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return Invalid("path", path + " is not a regular file");
  }
  if (st.st_size <= 0 || st.st_size > hypervisor::kMaxImageBytes) {
    close(fd);
    return Invalid("path", path + " is " + std::to_string(st.st_size) +
                               " bytes; an image is 1 byte to " +
                               DescribeBytes(hypervisor::kMaxImageBytes));
  }
  fcntl(fd, F_SETFL, 0);
  *size = st.st_size;
  return fd;
}

Status CheckRoom(uint64_t needed, const std::string& images_dir, uint64_t keep_free,
                 const char* field, const std::string& hint) {
  struct statvfs fs {};
  if (statvfs(images_dir.c_str(), &fs) != 0) return Status::Ok();
  const uint64_t free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  if (free_bytes >= needed + keep_free) return Status::Ok();
  return Status(codes::kStoreFull,
                "not enough space for the image in " + images_dir + ": it needs " +
                    DescribeBytes(static_cast<int64_t>(needed)) + " and " +
                    DescribeBytes(static_cast<int64_t>(keep_free)) + " must stay free, but " +
                    DescribeBytes(static_cast<int64_t>(free_bytes)) + " are free",
                hint)
      .set_field(field);
}

Status WriteSparse(int out, const char* data, size_t n, off_t offset) {
  if (AllZero(data, n)) return Status::Ok();
  for (size_t w = 0; w < n;) {
    ssize_t m = pwrite(out, data + w, n - w, offset + static_cast<off_t>(w));
    if (m < 0 && errno == EINTR) continue;
    if (m < 0) return Errno("write the image copy");
    w += static_cast<size_t>(m);
  }
  return Status::Ok();
}

Status CopySparse(int in, int out, off_t size, const std::atomic<bool>& stop) {
  std::vector<char> buf(kChunk);
  off_t done = 0;
  while (done < size) {
    if (stop) return Status(codes::kInternal, "kumod is stopping");
    ssize_t n = pread(in, buf.data(), buf.size(), done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("read the image");
    if (n == 0) break;  // it shrank meanwhile: what was read is what is checked
    if (Status s = WriteSparse(out, buf.data(), static_cast<size_t>(n), done); !s.ok()) return s;
    done += n;
  }
  if (ftruncate(out, done) != 0) return Errno("size the image copy");
  return Status::Ok();
}

Result<DiskImageInfo> Place(Staging& staging, off_t size, const std::string& qemu_img,
                            const std::optional<hypervisor::RunAs>& run_as,
                            const std::string& final_dir, const std::string& what,
                            const char* field) {
  if (ftruncate(staging.disk_fd, size) != 0) return Errno("size the image copy");
  if (fsync(staging.disk_fd) != 0) return Errno("fsync the image copy");
  Result<DiskImageInfo> info =
      hypervisor::InspectDiskImage(qemu_img, staging.dir + "/disk", run_as);
  if (!info.ok()) {
    Status s = info.status();
    return Status(s.code(), what + ": " + s.message(), s.hint()).set_field(field);
  }
  std::string disk = "disk." + info->format;
  if (renameat(staging.dir_fd, "disk", staging.dir_fd, disk.c_str()) != 0) {
    return Errno("rename the copy");
  }
  fsync(staging.dir_fd);
  if (renameat2(AT_FDCWD, staging.dir.c_str(), AT_FDCWD, final_dir.c_str(), RENAME_NOREPLACE) !=
      0) {
    if (errno == EEXIST || errno == ENOTEMPTY) {
      return Status(codes::kAlreadyExists,
                    final_dir + " exists though no image by that name is registered",
                    "move it away, or import under another name")
          .set_field("name");
    }
    return Errno("move the image into " + final_dir);
  }
  staging.placed = true;
  SyncDir(final_dir.substr(0, final_dir.rfind('/')));
  return info;
}

Status GiveToGroup(int fd, const std::optional<hypervisor::RunAs>& run_as, mode_t mode) {
  if (!run_as) return Status::Ok();
  if (fchown(fd, static_cast<uid_t>(-1), run_as->gid) != 0 || fchmod(fd, mode) != 0) {
    return Errno("give the image to the QEMU group");
  }
  return Status::Ok();
}

void SyncDir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

}  // namespace kumo::core
