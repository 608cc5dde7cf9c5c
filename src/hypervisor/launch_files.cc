#include "hypervisor/launch_files.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

namespace kumo::hypervisor {
namespace {

Status HypervisorError(const std::string& message, const std::string& hint = "") {
  return Status(codes::kHypervisorError, message, hint);
}

bool ReadableBy(const struct stat& st, const RunAs& user) {
  if (st.st_uid == user.uid) return st.st_mode & S_IRUSR;
  if (st.st_gid == user.gid) return st.st_mode & S_IRGRP;
  return st.st_mode & S_IROTH;
}

// A file QEMU writes in its run_dir that an older kumod, running QEMU as root,
// left to root: given to the user QEMU now runs as. Only a plain file with
// one link is touched, and never through a symlink.
Status GiveFile(int dir_fd, const std::string& dir, const char* name, const RunAs& user) {
  struct stat st {};
  if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return Status::Ok();
  if (st.st_uid == user.uid) return Status::Ok();
  if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_uid != geteuid()) {
    return HypervisorError(dir + "/" + name + " is not a plain file of kumod's",
                           "move it away; kumod recreates what it needs");
  }
  if (fchownat(dir_fd, name, user.uid, user.gid, AT_SYMLINK_NOFOLLOW) != 0) {
    return HypervisorError("cannot chown " + dir + "/" + name + ": " + strerror(errno));
  }
  return Status::Ok();
}

}  // namespace

Status PrepareRunDir(const std::string& dir, const std::optional<RunAs>& run_as) {
  for (size_t slash = 1; slash != std::string::npos;) {
    slash = dir.find('/', slash + 1);
    std::string prefix = dir.substr(0, slash);
    if (mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      return HypervisorError("cannot create " + prefix + ": " + strerror(errno));
    }
  }
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st {};
  if (fd < 0 || fstat(fd, &st) != 0) {
    if (fd >= 0) close(fd);
    return HypervisorError(dir + " is not a directory");
  }
  Status s = Status::Ok();
  if (st.st_uid != geteuid() && (!run_as || st.st_uid != run_as->uid)) {
    s = HypervisorError(dir + " belongs to another user");
  } else if (run_as && fchown(fd, run_as->uid, run_as->gid) != 0) {
    s = HypervisorError("cannot chown " + dir + ": " + strerror(errno));
  } else if (fchmod(fd, 0700) != 0) {
    s = HypervisorError("cannot chmod " + dir + ": " + strerror(errno));
  }
  if (s.ok() && run_as) {
    for (const char* name : {"disk.qcow2", "console.log", "qemu.log", "uefi-vars.fd"}) {
      s = GiveFile(fd, dir, name, *run_as);
      if (!s.ok()) break;
    }
  }
  close(fd);
  return s;
}

Status MakeConsoleFifos(const MachinePaths& paths, const std::optional<RunAs>& run_as) {
  for (const std::string& fifo : {paths.console_output_fifo(), paths.console_input_fifo()}) {
    // unlink never follows a symlink; mkfifo fails if anything came back.
    if (unlink(fifo.c_str()) != 0 && errno != ENOENT) {
      return HypervisorError("cannot remove " + fifo + ": " + strerror(errno));
    }
    if (mkfifo(fifo.c_str(), 0600) != 0) {
      return HypervisorError("cannot make the console FIFO " + fifo + ": " + strerror(errno));
    }
    if (run_as && fchownat(AT_FDCWD, fifo.c_str(), run_as->uid, run_as->gid,
                           AT_SYMLINK_NOFOLLOW) != 0) {
      return HypervisorError("cannot chown " + fifo + ": " + strerror(errno));
    }
  }
  return Status::Ok();
}

Result<ImageFiles> ImageFiles::Open(const MachineSpec& spec, const std::optional<RunAs>& run_as) {
  ImageFiles files;
  Status s = files.Add("the image's kernel", spec.kernel, false, &files.inherited_.kernel, run_as);
  if (s.ok()) {
    s = files.Add("the image's initrd", spec.initrd, false, &files.inherited_.initrd, run_as);
  }
  if (s.ok()) {
    s = files.Add("the image's disk", spec.base_disk, false, &files.inherited_.base_disk, run_as);
  }
  if (s.ok()) {
    s = files.Add("the image's seed", spec.seed_image, true, &files.inherited_.seed_image, run_as);
  }
  if (s.ok()) {
    s = files.Add("the UEFI firmware's code", spec.uefi_code, false, &files.inherited_.uefi_code,
                  run_as);
  }
  if (!s.ok()) return s;
  return files;
}

Status ImageFiles::Add(const std::string& what, const std::string& path, bool own_file, int* number,
                       const std::optional<RunAs>& run_as) {
  if (path.empty()) return Status::Ok();
  auto missing = [&](const std::string& why) {
    return Status(codes::kNotFound, what + " " + path + " " + why,
                  own_file ? "start the server again" : "rebuild or re-register the image");
  };
  // The seed lies in the run_dir QEMU's user controls: never follow a link there.
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | (own_file ? O_NOFOLLOW : 0));
  if (fd < 0) return missing(std::string("cannot be opened: ") + strerror(errno));
  fds_.push_back(fd);
  *number = 2 + static_cast<int>(fds_.size());
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return missing("is not a regular file");
  if (!run_as || ReadableBy(st, *run_as)) return Status::Ok();
  if (own_file && st.st_uid == geteuid() && st.st_nlink == 1) {
    if (fchown(fd, run_as->uid, run_as->gid) == 0) return Status::Ok();
  }
  return Status(codes::kNotFound,
                what + " " + path + " is not readable by the QEMU user (uid " +
                    std::to_string(run_as->uid) + ")",
                "make it readable: chmod 0644 " + path);
}

ImageFiles::~ImageFiles() { Close(); }

ImageFiles::ImageFiles(ImageFiles&& other) noexcept
    : fds_(std::move(other.fds_)), inherited_(other.inherited_) {
  other.fds_.clear();
}

ImageFiles& ImageFiles::operator=(ImageFiles&& other) noexcept {
  if (this != &other) {
    Close();
    fds_ = std::move(other.fds_);
    inherited_ = other.inherited_;
    other.fds_.clear();
  }
  return *this;
}

void ImageFiles::Close() {
  for (int fd : fds_) close(fd);
  fds_.clear();
}

}  // namespace kumo::hypervisor
