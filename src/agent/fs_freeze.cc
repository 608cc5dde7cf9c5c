#include "agent/fs_freeze.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>

namespace kumo::agent {
namespace {

int OpenDir(const std::string& path) {
  return open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
}

}  // namespace

std::vector<std::string> FreezeOrder(const std::vector<Mount>& mounts,
                                     const std::optional<std::vector<std::string>>& only) {
  std::vector<std::string> order;
  for (auto it = mounts.rbegin(); it != mounts.rend(); ++it) {
    if (only && std::find(only->begin(), only->end(), it->mountpoint) == only->end()) continue;
    order.push_back(it->mountpoint);
  }
  return order;
}

std::optional<int64_t> FreezeFilesystems(const std::vector<std::string>& order, std::string* err) {
  std::vector<std::string> frozen;
  for (const auto& path : order) {
    int fd = OpenDir(path);
    if (fd < 0) {
      *err = "failed to open " + path + ": " + strerror(errno);
      break;
    }
    int result = ioctl(fd, FIFREEZE);
    int error = errno;
    close(fd);
    if (result == 0) {
      frozen.push_back(path);
    } else if (error != EBUSY && error != EOPNOTSUPP) {
      *err = "failed to freeze " + path + ": " + strerror(error);
      break;
    }
  }
  if (err->empty()) return int64_t(frozen.size());
  for (const auto& path : frozen) {
    if (int fd = OpenDir(path); fd >= 0) {
      ioctl(fd, FITHAW);
      close(fd);
    }
  }
  return std::nullopt;
}

int64_t ThawFilesystems(const std::vector<Mount>& mounts) {
  int64_t thawed = 0;
  for (auto it = mounts.rbegin(); it != mounts.rend(); ++it) {
    int fd = OpenDir(it->mountpoint);
    if (fd < 0) continue;
    bool any = false;
    for (int i = 0; i < 64 && ioctl(fd, FITHAW) == 0; ++i) any = true;
    thawed += any;
    close(fd);
  }
  return thawed;
}

nlohmann::json TrimFilesystems(const std::vector<Mount>& mounts, uint64_t minimum) {
  nlohmann::json paths = nlohmann::json::array();
  for (auto it = mounts.rbegin(); it != mounts.rend(); ++it) {
    nlohmann::json result = {{"path", it->mountpoint}};
    int fd = OpenDir(it->mountpoint);
    if (fd < 0) {
      result["error"] = std::string("failed to open: ") + strerror(errno);
      paths.push_back(std::move(result));
      continue;
    }
    fstrim_range range{0, UINT64_MAX, minimum};
    if (ioctl(fd, FITRIM, &range) != 0) {
      result["error"] = errno == ENOTTY || errno == EOPNOTSUPP
                            ? std::string("trim not supported")
                            : std::string("failed to trim: ") + strerror(errno);
    } else {
      result["minimum"] = range.minlen;
      result["trimmed"] = range.len;
    }
    close(fd);
    paths.push_back(std::move(result));
  }
  return {{"paths", std::move(paths)}};
}

}  // namespace kumo::agent
