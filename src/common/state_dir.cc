#include "common/state_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
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

Status PrepareStateDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir + "/servers", ec);
  if (ec) {
    return Status(codes::kInternal, "cannot create state directory " + dir + ": " + ec.message(),
                  "choose another with --state-dir");
  }
  chmod(dir.c_str(), 0700);
  chmod((dir + "/servers").c_str(), 0700);
  return Status::Ok();
}

Result<std::string> LoadOrCreateToken(const std::string& dir) {
  const std::string path = dir + "/token";
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
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status(codes::kInternal, "cannot write " + path + ": " + strerror(errno));
  fchmod(fd, 0600);
  std::string line = token + "\n";
  bool ok = write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  close(fd);
  if (!ok) return Status(codes::kInternal, "cannot write " + path);
  return token;
}

}  // namespace kumo
