#include "common/state_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace kumo {

std::string DefaultStateDir() {
  if (const char* env = std::getenv("KUMO_STATE_DIR"); env && *env) return env;
  if (geteuid() == 0) return "/var/lib/kumo";
  if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg && *xdg)
    return std::string(xdg) + "/kumo";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "/tmp") + "/.local/state/kumo";
}

namespace {

std::string Octal(mode_t mode) {
  char buf[8];
  snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// Whether kumod may take `dir`, which exists: why not, or ok.
Status CheckExistingDir(const std::string& dir, const struct stat& st) {
  const std::string hint =
      "give --state-dir a directory that does not exist yet (kumod creates it) or an empty one, "
      "e.g. " +
      dir + "/kumo";
  if (!S_ISDIR(st.st_mode)) {
    return Status(codes::kInvalidArgument, "the state directory " + dir + " is not a directory",
                  hint);
  }
  if (st.st_uid != geteuid()) {
    return Status(codes::kInvalidArgument,
                  "the state directory " + dir + " belongs to another user (uid " +
                      std::to_string(st.st_uid) + "), not to kumod's (uid " +
                      std::to_string(geteuid()) + ")",
                  hint);
  }
  std::error_code ec;
  bool empty = std::filesystem::is_empty(dir, ec);
  if (ec) {
    return Status(codes::kInvalidArgument,
                  "cannot read the state directory " + dir + ": " + ec.message(), hint);
  }
  if (empty) return Status::Ok();
  for (const char* mark : {"kumod.lock", "kumod.db", "token"}) {
    if (std::filesystem::exists(dir + "/" + mark, ec)) return Status::Ok();
  }
  return Status(codes::kInvalidArgument,
                dir +
                    " is an existing directory that kumo did not create (it holds other files "
                    "and no kumod.db, token or kumod.lock); kumod would make it private (0700) "
                    "and keep its servers in it",
                hint);
}

}  // namespace

Status PrepareStateDir(const std::string& dir) {
  struct stat st {};
  if (stat(dir.c_str(), &st) == 0) {
    if (Status s = CheckExistingDir(dir, st); !s.ok()) return s;
  } else if (errno != ENOENT) {
    return Status(codes::kInvalidArgument,
                  "cannot use the state directory " + dir + ": " + strerror(errno),
                  "choose another with --state-dir");
  }
  std::error_code ec;
  std::filesystem::create_directories(dir + "/servers", ec);
  if (ec) {
    return Status(codes::kInternal, "cannot create state directory " + dir + ": " + ec.message(),
                  "choose another with --state-dir");
  }
  for (const std::string& d : {dir, dir + "/servers"}) {
    if (chmod(d.c_str(), 0700) != 0) {
      return Status(codes::kInternal, "cannot chmod " + d + ": " + strerror(errno));
    }
  }
  return Status::Ok();
}

Result<std::string> LoadOrCreateToken(const std::string& dir) {
  const std::string path = dir + "/token";
  int existing = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (existing >= 0) {
    struct stat st {};
    fstat(existing, &st);
    close(existing);
    if (st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
      std::string why = st.st_uid != geteuid()
                            ? "belongs to another user (uid " + std::to_string(st.st_uid) + ")"
                            : "is open to other users (mode " + Octal(st.st_mode) + ")";
      return Status(codes::kInvalidState,
                    "the API token " + path + " " + why +
                        ": someone else may have read or replaced it; kumod will not use it",
                    "if no one else could have used it: chown to kumod's user and chmod 600 " +
                        path +
                        "; otherwise delete it, and kumod makes a new token at start "
                        "(clients then need the new one)");
    }
  } else if (errno == ELOOP) {
    return Status(codes::kInvalidState, "the API token " + path + " is a symbolic link",
                  "delete it; kumod makes a new token at start");
  }
  std::ifstream in(path);
  std::string token;
  if (in && std::getline(in, token) && token.size() >= 32) return token;

  unsigned char bytes[32];
  if (getrandom(bytes, sizeof bytes, 0) != sizeof bytes) {
    return Status(codes::kInternal, std::string("getrandom: ") + strerror(errno));
  }
  static const char kHex[] = "0123456789abcdef";
  token.clear();
  for (unsigned char b : bytes) {
    token += kHex[b >> 4];
    token += kHex[b & 15];
  }
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return Status(codes::kInternal, "cannot write " + path + ": " + strerror(errno));
  fchmod(fd, 0600);
  std::string line = token + "\n";
  bool ok = write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  close(fd);
  if (!ok) return Status(codes::kInternal, "cannot write " + path);
  return token;
}

StateDirLock& StateDirLock::operator=(StateDirLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

StateDirLock::~StateDirLock() {
  if (fd_ >= 0) close(fd_);  // releases the flock
}

Result<StateDirLock> LockStateDir(const std::string& dir) {
  const std::string path = dir + "/kumod.lock";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Status(codes::kInternal, "cannot open " + path + ": " + std::strerror(errno));
  }
  StateDirLock lock(fd);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int saved = errno;
    if (saved != EWOULDBLOCK) {
      return Status(codes::kInternal, "cannot lock " + path + ": " + std::strerror(saved));
    }
    char buf[32] = {};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    return Status(codes::kInvalidState,
                  "another kumod" + (holder.empty() ? "" : " (pid " + holder + ")") +
                      " is using the state directory " + dir,
                  "stop it first, or give this kumod its own --state-dir");
  }
  std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    return Status(codes::kInternal, "cannot write " + path + ": " + std::strerror(errno));
  }
  return lock;
}

}  // namespace kumo
