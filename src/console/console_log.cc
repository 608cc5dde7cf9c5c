#include "console/console_log.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

namespace kumo::console {
namespace {

// Closes a file descriptor when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Status IoError(const std::string& what, const std::string& path, int error) {
  return Status(codes::kInternal, what + " " + path + ": " + strerror(error));
}

// The newest `max_bytes` of the file at `path` ("" if it does not exist).
std::string ReadTail(const std::string& path, size_t max_bytes) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (fd.get() < 0 || fstat(fd.get(), &st) != 0 || max_bytes == 0) return "";
  size_t size = static_cast<size_t>(st.st_size);
  size_t want = std::min(size, max_bytes);
  std::string out(want, '\0');
  size_t got = 0;
  while (got < want) {
    ssize_t n = pread(fd.get(), out.data() + got, want - got, size - want + got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // shrank under us (rotated): keep what was read
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

// Appends everything from `*offset` to the end of `in` onto `out`.
Status CopyToEnd(int in, off_t* offset, int out, const std::string& in_path,
                 const std::string& out_path) {
  char buf[64 * 1024];
  while (true) {
    ssize_t n = pread(in, buf, sizeof buf, *offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError("cannot read", in_path, errno);
    if (n == 0) return Status::Ok();
    for (ssize_t done = 0; done < n;) {
      ssize_t w = write(out, buf + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return IoError("cannot write", out_path, errno);
      done += w;
    }
    *offset += n;
  }
}

}  // namespace

std::string RotatedLogPath(const std::string& console_log) { return console_log + ".1"; }

std::string_view TailLines(std::string_view text, size_t n) {
  if (n == 0) return text;
  size_t pos = text.size();
  if (pos > 0 && text[pos - 1] == '\n') --pos;  // it ends the last line
  for (size_t i = 0; i < n; ++i) {
    if (pos == 0) return text;
    size_t newline = text.rfind('\n', pos - 1);
    if (newline == std::string_view::npos) return text;
    pos = newline;
  }
  return text.substr(pos + 1);
}

std::string ReadScrollback(const std::string& console_log, size_t tail_lines) {
  std::string newer = ReadTail(console_log, kMaxScrollbackBytes);
  std::string text = ReadTail(RotatedLogPath(console_log), kMaxScrollbackBytes - newer.size());
  text += newer;
  if (tail_lines == 0) return text;
  return std::string(TailLines(text, tail_lines));
}

Status RotateConsoleLogIfLarger(const std::string& console_log, uint64_t limit, bool* rotated,
                                uint64_t* size) {
  if (rotated) *rotated = false;
  if (size) *size = 0;
  Fd in(open(console_log.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) {
    return errno == ENOENT ? Status::Ok() : IoError("cannot open", console_log, errno);
  }
  struct stat st {};
  if (fstat(in.get(), &st) != 0) return IoError("cannot stat", console_log, errno);
  if (size) *size = static_cast<uint64_t>(st.st_size);
  if (static_cast<uint64_t>(st.st_size) <= limit) return Status::Ok();

  const std::string target = RotatedLogPath(console_log);
  const std::string temp = target + ".tmp";
  Fd out(open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (out.get() < 0) return IoError("cannot create", temp, errno);
  off_t offset = static_cast<uint64_t>(st.st_size) > kMaxRotatedBytes
                     ? st.st_size - static_cast<off_t>(kMaxRotatedBytes)
                     : 0;
  Status copied = CopyToEnd(in.get(), &offset, out.get(), console_log, temp);
  if (copied.ok() && rename(temp.c_str(), target.c_str()) != 0) {
    copied = IoError("cannot rename to", target, errno);
  }
  if (!copied.ok()) {
    unlink(temp.c_str());
    return copied;
  }
  // What QEMU appended while we copied; then the cut, as close to it as we can.
  if (Status s = CopyToEnd(in.get(), &offset, out.get(), console_log, target); !s.ok()) return s;
  if (truncate(console_log.c_str(), 0) != 0) return IoError("cannot truncate", console_log, errno);
  if (rotated) *rotated = true;
  if (size) *size = 0;
  return Status::Ok();
}

ConsoleLogRotator::ConsoleLogRotator(std::string console_log, uint64_t limit)
    : path_(std::move(console_log)), limit_(limit) {}

Status ConsoleLogRotator::Appended(uint64_t n) {
  size_ += n;
  if (size_ <= limit_) return Status::Ok();
  return Check();
}

Status ConsoleLogRotator::Check() {
  if (path_.empty()) return Status::Ok();
  ++checks_;
  bool rotated = false;
  uint64_t size = 0;
  Status s = RotateConsoleLogIfLarger(path_, limit_, &rotated, &size);
  if (rotated) ++rotations_;
  // After a failure, the count goes on from where it was: the next chunk
  // tries again (the broker logs the failure once).
  if (s.ok()) size_ = size;
  return s;
}

}  // namespace kumo::console
