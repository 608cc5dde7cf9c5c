// The file work of taking an image in, for ImageLibrary: a private staging
// directory STATE_DIR/images/.import-NAME-XXXXXX holding the new disk, which
// is checked with qemu-img and renamed into place whole, or removed.
//
// Promises: the staged disk is created O_EXCL, 0600 (0640 for the QEMU
// group), never through a symlink; a Staging not placed is removed with all
// it holds when destroyed; holes (runs of zeros) stay holes.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "hypervisor/disk_image.h"
#include "hypervisor/spawn.h"

namespace kumo::core {

inline constexpr char kImportPrefix[] = ".import-";

struct Staging {
  Staging() = default;
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;
  ~Staging();

  std::string dir;
  int dir_fd = -1;
  int disk_fd = -1;  // "disk" in `dir`
  bool placed = false;
};

// Creates the staging directory for image `name` in `images_dir`.
Result<std::unique_ptr<Staging>> Stage(const std::string& name, const std::string& images_dir,
                                       const std::optional<hypervisor::RunAs>& run_as);

// Opens a host file to import: a regular file of 1 byte to kMaxImageBytes,
// never through a symlink, never blocking on a FIFO or device.
// InvalidArgument with field "path".
Result<int> OpenSource(const std::string& path, off_t* size);

// StoreFull (507, field `field`) naming the figures unless `images_dir` has
// room for `needed` bytes and still `keep_free` bytes.
Status CheckRoom(uint64_t needed, const std::string& images_dir, uint64_t keep_free,
                 const char* field, const std::string& hint);

// Writes `n` bytes at `offset`, leaving an all-zero run a hole.
Status WriteSparse(int out, const char* data, size_t n, off_t offset);
// Copies `in` (`size` bytes) to `out` with WriteSparse; `stop` ends it early.
Status CopySparse(int in, int out, off_t size, const std::atomic<bool>& stop);

// Sizes the staged disk to `size` bytes, fsyncs it, checks it with qemu-img
// (errors name `what`, field `field`), and renames it into place as
// `final_dir`/disk.FORMAT. AlreadyExists when `final_dir` exists.
Result<hypervisor::DiskImageInfo> Place(Staging& staging, off_t size, const std::string& qemu_img,
                                        const std::optional<hypervisor::RunAs>& run_as,
                                        const std::string& final_dir, const std::string& what,
                                        const char* field);

// Gives `fd` to the QEMU group with `mode`, when QEMU runs as another user.
Status GiveToGroup(int fd, const std::optional<hypervisor::RunAs>& run_as, mode_t mode);
void SyncDir(const std::string& dir);

}  // namespace kumo::core
