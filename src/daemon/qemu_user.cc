#include "daemon/qemu_user.h"

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <vector>

namespace kumo::daemon {
namespace {

bool TraversableBy(const struct stat& st, const hypervisor::RunAs& user) {
  if (st.st_uid == user.uid) return st.st_mode & S_IXUSR;
  if (st.st_gid == user.gid) return st.st_mode & S_IXGRP;
  return st.st_mode & S_IXOTH;
}

// Every directory above `dir` must let the QEMU user through.
Status CheckParents(const std::string& dir, const hypervisor::RunAs& user) {
  std::filesystem::path p = std::filesystem::path(dir).parent_path();
  for (; !p.empty(); p = p.parent_path()) {
    struct stat st {};
    if (stat(p.c_str(), &st) != 0) break;
    if (!TraversableBy(st, user)) {
      return Status(codes::kInvalidState,
                    "the QEMU user cannot reach the state directory " + dir + ": " + p.string() +
                        " does not let it through",
                    "use a state directory others may pass through (the default /var/lib/kumo), "
                    "or chmod o+x " +
                        p.string());
    }
    if (p == p.root_path()) break;
  }
  return Status::Ok();
}

// Traversal only, for the QEMU user's group; kumod keeps ownership.
Status OpenForTraversal(const std::string& dir, gid_t gid) {
  if (chown(dir.c_str(), static_cast<uid_t>(-1), gid) != 0 || chmod(dir.c_str(), 0710) != 0) {
    return Status(codes::kInternal,
                  "cannot give " + dir + " to the QEMU group: " + strerror(errno));
  }
  return Status::Ok();
}

// kumod's own files in the state directory (database, token, lock): 0600.
void MakeFilesPrivate(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  while (dirent* e = readdir(d)) {
    struct stat st {};
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
      continue;
    }
    if (st.st_mode & 077) fchmodat(dirfd(d), e->d_name, st.st_mode & 0700, 0);
  }
  closedir(d);
}

}  // namespace

Result<QemuUser> SetUpQemuUser(const std::string& name, const std::string& state_dir) {
  if (geteuid() != 0) return QemuUser{};
  std::vector<char> buf(16384);
  struct passwd pw {};
  struct passwd* found = nullptr;
  getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (!found) {
    return Status(codes::kInvalidArgument,
                  "the QEMU user '" + name + "' does not exist; kumod will not run QEMU as root",
                  "create it: useradd --system --no-create-home --shell /usr/sbin/nologin " + name +
                      " (scripts/install-deps.sh does), or name another with --qemu-user");
  }
  if (found->pw_uid == 0 || found->pw_gid == 0) {
    return Status(codes::kInvalidArgument, "the QEMU user '" + name + "' is root or in group root",
                  "use an unprivileged system user, e.g. kumo-qemu");
  }
  hypervisor::RunAs run_as{found->pw_uid, found->pw_gid};
  if (Status s = CheckParents(state_dir, run_as); !s.ok()) return s;
  MakeFilesPrivate(state_dir);
  for (const std::string& dir : {state_dir, state_dir + "/servers"}) {
    if (Status s = OpenForTraversal(dir, run_as.gid); !s.ok()) return s;
  }
  return QemuUser{name, run_as};
}

std::string Describe(const QemuUser& user) {
  if (!user.run_as) {
    return "kumod: not running as root: QEMU runs as kumod's own user (uid " +
           std::to_string(geteuid()) + "); isolation that needs root is off";
  }
  return "kumod: QEMU runs as user " + user.name + " (uid " + std::to_string(user.run_as->uid) +
         ")";
}

}  // namespace kumo::daemon
