#include "agent/guest_files.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common/base64.h"

namespace kumo::agent {
namespace {

FileResult Fail(std::string desc) { return {false, nullptr, std::move(desc)}; }

FileResult FailErrno(const std::string& what, int err) { return Fail(what + ": " + strerror(err)); }

FileResult InvalidCount(int64_t count) {
  return Fail("value '" + std::to_string(count) + "' is invalid for argument count");
}

}  // namespace

GuestFiles::~GuestFiles() {
  for (const auto& [handle, fd] : fds_) close(fd);
}

int GuestFiles::FlagsForMode(const std::string& mode) {
  struct Entry {
    const char* names[3];
    int flags;
  };
  static const Entry kModes[] = {
      {{"r", "rb", nullptr}, O_RDONLY},
      {{"w", "wb", nullptr}, O_WRONLY | O_CREAT | O_TRUNC},
      {{"a", "ab", nullptr}, O_WRONLY | O_CREAT | O_APPEND},
      {{"r+", "rb+", "r+b"}, O_RDWR},
      {{"w+", "wb+", "w+b"}, O_RDWR | O_CREAT | O_TRUNC},
      {{"a+", "ab+", "a+b"}, O_RDWR | O_CREAT | O_APPEND},
  };
  for (const auto& entry : kModes) {
    for (const char* name : entry.names) {
      if (name && mode == name) return entry.flags;
    }
  }
  return -1;
}

int GuestFiles::Fd(int64_t handle, FileResult* error) const {
  auto it = fds_.find(handle);
  if (it == fds_.end()) {
    *error = Fail("handle '" + std::to_string(handle) + "' has not been found");
    return -1;
  }
  return it->second;
}

FileResult GuestFiles::Open(const std::string& path, const std::string& mode) {
  int flags = FlagsForMode(mode);
  if (flags < 0) return Fail("invalid file open mode '" + mode + "'");
  if (path.find('\0') != std::string::npos) return Fail("invalid file path");
  if (fds_.size() >= kMaxHandles) {
    return Fail("too many open files: kumo-agent keeps at most " + std::to_string(kMaxHandles) +
                " open; close some with guest-file-close");
  }
  int fd = open(path.c_str(), flags | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0666);
  if (fd < 0) {
    return FailErrno("failed to open file '" + path + "' (mode: '" + mode + "')", errno);
  }
  int64_t handle = next_handle_++;
  fds_[handle] = fd;
  return {true, handle, {}};
}

FileResult GuestFiles::Read(int64_t handle, int64_t count) {
  FileResult error;
  int fd = Fd(handle, &error);
  if (fd < 0) return error;
  if (count < 0 || count > kMaxCount) return InvalidCount(count);
  std::string data(std::min<size_t>(size_t(count), kMaxReadBytes), '\0');
  size_t got = 0;
  bool eof = false;
  while (got < data.size()) {
    ssize_t n = read(fd, data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n < 0) return FailErrno("failed to read file", errno);
    if (n == 0) {
      eof = true;
      break;
    }
    got += size_t(n);
  }
  data.resize(got);
  return {true, {{"count", got}, {"buf-b64", Base64Encode(data)}, {"eof", eof}}, {}};
}

FileResult GuestFiles::Write(int64_t handle, const std::string& data, int64_t count) {
  FileResult error;
  int fd = Fd(handle, &error);
  if (fd < 0) return error;
  if (count < 0 || size_t(count) > data.size()) return InvalidCount(count);
  size_t done = 0;
  while (done < size_t(count)) {
    ssize_t n = write(fd, data.data() + done, size_t(count) - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n < 0) return FailErrno("failed to write to file", errno);
    done += size_t(n);
  }
  return {true, {{"count", done}, {"eof", false}}, {}};
}

FileResult GuestFiles::Seek(int64_t handle, int64_t offset, const nlohmann::json& whence) {
  FileResult error;
  int fd = Fd(handle, &error);
  if (fd < 0) return error;
  int how = -1;
  if (whence.is_number_integer()) {
    int64_t code = whence.get<int64_t>();
    if (code < 0 || code > 2) return Fail("invalid whence code " + std::to_string(code));
    how = code == 0 ? SEEK_SET : code == 1 ? SEEK_CUR : SEEK_END;
  } else if (whence.is_string()) {
    std::string name = whence.get<std::string>();
    how = name == "set" ? SEEK_SET : name == "cur" ? SEEK_CUR : name == "end" ? SEEK_END : -1;
    if (how < 0) return Fail("Parameter 'whence' does not accept value '" + name + "'");
  } else {
    return Fail("Invalid parameter type for 'whence', expected: GuestFileWhence");
  }
  off_t position = lseek(fd, offset, how);
  if (position < 0) return FailErrno("failed to seek file", errno);
  return {true, {{"position", int64_t(position)}, {"eof", false}}, {}};
}

FileResult GuestFiles::Flush(int64_t handle) {
  FileResult error;
  if (Fd(handle, &error) < 0) return error;
  return {true, nlohmann::json::object(), {}};  // nothing is buffered in the agent
}

FileResult GuestFiles::Close(int64_t handle) {
  FileResult error;
  int fd = Fd(handle, &error);
  if (fd < 0) return error;
  fds_.erase(handle);
  close(fd);
  return {true, nlohmann::json::object(), {}};
}

}  // namespace kumo::agent
