#include "hypervisor/uefi_firmware.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

namespace kumo::hypervisor {
namespace {

// OVMF's variable stores are 128 KiB or 528 KiB; anything far larger is not one.
constexpr off_t kMaxVarsBytes = 64 << 20;
constexpr char kVarsTemp[] = "uefi-vars.fd.new";

Status HypervisorError(const std::string& message, const std::string& hint = "") {
  return Status(codes::kHypervisorError, message, hint);
}

Status Missing(const std::string& what, const std::string& path, const std::string& why,
               const std::string& flag) {
  return HypervisorError(
      "the UEFI firmware's " + what + " " + path + " " + why,
      "install Debian's OVMF (apt-get install ovmf), or point kumod " + flag + " at it");
}

// Ok if `path` is a regular file kumod can read; else why not.
std::string Unreadable(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return std::string("is missing: ") + strerror(errno);
  if (!S_ISREG(st.st_mode)) return "is not a regular file";
  if (access(path.c_str(), R_OK) != 0) return std::string("is unreadable: ") + strerror(errno);
  return "";
}

bool CopyAll(int in, int out) {
  char buffer[64 * 1024];
  for (;;) {
    ssize_t n = read(in, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n == 0;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = write(out, buffer + done, n - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      done += w;
    }
  }
}

// Copies the template into dir/kVarsTemp and renames it to `name`.
Status CopyTemplate(int dir, const MachineSpec& spec, const std::string& name,
                    const std::optional<RunAs>& run_as) {
  const std::string& from = spec.uefi_vars_template;
  int in = open(from.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (in < 0 || fstat(in, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0 ||
      st.st_size > kMaxVarsBytes) {
    std::string why =
        in < 0 ? std::string("is missing: ") + strerror(errno)
               : "is not an OVMF variable store (" + std::to_string(st.st_size) + " bytes)";
    if (in >= 0) close(in);
    return Missing("variable store template", from, why, "--ovmf-vars");
  }
  unlinkat(dir, kVarsTemp, 0);  // a copy a crash left half done
  int out = openat(dir, kVarsTemp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  std::string failed;
  int error = 0;
  auto fail = [&](const char* what) {
    failed = what;
    error = errno;
  };
  if (out < 0) {
    fail("create");
  } else if (!CopyAll(in, out)) {
    fail("write");
  } else if (run_as && fchown(out, run_as->uid, run_as->gid) != 0) {
    fail("chown");
  } else if (fsync(out) != 0) {
    fail("sync");
  }
  if (out >= 0 && close(out) != 0 && failed.empty()) fail("close");
  close(in);
  if (failed.empty() && renameat(dir, kVarsTemp, dir, name.c_str()) != 0) fail("rename");
  if (failed.empty()) return Status::Ok();
  unlinkat(dir, kVarsTemp, 0);
  return HypervisorError("cannot " + failed + " the UEFI variable store " + spec.paths.uefi_vars() +
                             ": " + strerror(error),
                         "check the filesystem of " + spec.paths.run_dir);
}

}  // namespace

Status CheckUefiFirmware(const MachineSpec& spec) {
  if (spec.uefi_code.empty()) return Status::Ok();
  if (std::string why = Unreadable(spec.uefi_code); !why.empty()) {
    return Missing("code", spec.uefi_code, why, "--ovmf-code");
  }
  struct stat st {};
  if (lstat(spec.paths.uefi_vars().c_str(), &st) == 0) return Status::Ok();
  if (std::string why = Unreadable(spec.uefi_vars_template); !why.empty()) {
    return Missing("variable store template", spec.uefi_vars_template, why, "--ovmf-vars");
  }
  return Status::Ok();
}

Status PrepareUefiVars(const MachineSpec& spec, const std::optional<RunAs>& run_as) {
  if (spec.uefi_code.empty()) return Status::Ok();
  const std::string& run_dir = spec.paths.run_dir;
  int dir = open(run_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir < 0) return HypervisorError("cannot open " + run_dir + ": " + strerror(errno));
  const std::string name = std::filesystem::path(spec.paths.uefi_vars()).filename();
  struct stat st {};
  Status s = Status::Ok();
  if (fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    s = CopyTemplate(dir, spec, name, run_as);
  }
  close(dir);
  return s;
}

}  // namespace kumo::hypervisor
