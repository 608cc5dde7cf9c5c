#include "agent/proc_lines.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>

namespace kumo::agent {

bool ForEachLine(const char* path, size_t max_bytes,
                 const std::function<bool(std::string_view)>& line) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  constexpr size_t kMaxLine = 8192;
  char buf[4096];
  std::string current;
  size_t total = 0;
  bool more = true;
  ssize_t n;
  while (more && total < max_bytes && (n = read(fd, buf, sizeof buf)) > 0) {
    total += size_t(n);
    for (ssize_t i = 0; i < n && more; ++i) {
      if (buf[i] != '\n') {
        if (current.size() < kMaxLine) current += buf[i];
        continue;
      }
      more = line(current);
      current.clear();
    }
  }
  if (more && !current.empty()) line(current);
  close(fd);
  return true;
}

}  // namespace kumo::agent
