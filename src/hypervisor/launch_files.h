// The files a QEMU launch needs, prepared by kumod before QEMU starts: the
// run directory, owned by the user QEMU runs as, and the image's files,
// opened by kumod for QEMU to inherit (see InheritedFiles).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "hypervisor/machine.h"
#include "hypervisor/qemu_argv.h"
#include "hypervisor/spawn.h"

namespace kumo::hypervisor {

// mkdir -p (new directories 0700); the last one is made 0700 and, with
// `run_as`, given to that user, as are the files QEMU writes there that an
// older kumod left to root (disk overlay, console log, qemu.log, UEFI
// variable store). Symlinks are never followed. Errors: HypervisorError (not
// a directory, owned by another user, cannot be changed).
Status PrepareRunDir(const std::string& dir, const std::optional<RunAs>& run_as);

// The serial console's FIFOs for QEMU's pipe chardev (MachinePaths::
// console_output_fifo and console_input_fifo), made anew, 0600 and, with
// `run_as`, that user's. Whatever was at those names is removed first (never
// followed). Errors: HypervisorError.
Status MakeConsoleFifos(const MachinePaths& paths, const std::optional<RunAs>& run_as);

// The image's kernel, initrd and disk, the machine's seed image and the UEFI
// firmware's code, open read-only. With `run_as` each must be readable by
// that user through its own mode (QEMU reopens it through /proc/self/fd);
// kumod's own seed is given to that user.
class ImageFiles {
 public:
  // Errors: NotFound (missing or unreadable, with a hint).
  static Result<ImageFiles> Open(const MachineSpec& spec, const std::optional<RunAs>& run_as);
  ImageFiles() = default;
  ~ImageFiles();
  ImageFiles(ImageFiles&& other) noexcept;
  ImageFiles& operator=(ImageFiles&& other) noexcept;

  // The open descriptors, in the order the child inherits them (3, 4, …).
  const std::vector<int>& fds() const { return fds_; }
  // Their numbers in the child, for BuildQemuArgv.
  const InheritedFiles& inherited() const { return inherited_; }
  void Close();

 private:
  Status Add(const std::string& what, const std::string& path, bool own_file, int* number,
             const std::optional<RunAs>& run_as);

  std::vector<int> fds_;
  InheritedFiles inherited_;
};

}  // namespace kumo::hypervisor
