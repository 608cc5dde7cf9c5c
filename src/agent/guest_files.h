// GuestFiles serves guest-file-open/-read/-write/-seek/-flush/-close as
// qemu-ga 7.2 does: integer handles (counting up from 1000), the same modes
// ("r", "w", "a", "r+", "w+", "a+", each with an optional "b") and the same
// error wording. Bounded: at most kMaxHandles files open at once, and one read
// returns at most kMaxReadBytes (a shorter read with eof false, which clients
// already handle since reads may always be short). Files are opened
// non-blocking, so a FIFO or device can never stall the agent.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace kumo::agent {

struct FileResult {
  bool ok = true;
  nlohmann::json value;
  std::string error;  // GenericError desc when !ok
};

class GuestFiles {
 public:
  static constexpr size_t kMaxHandles = 32;
  // qemu-ga accepts counts up to 48 MiB and refuses larger ones; so do we,
  // but reply with at most 64 KiB per read: a read's reply is held in memory
  // (base64, a third larger), and the agent's peak RSS goal is 1.5 MiB.
  static constexpr int64_t kMaxCount = 48 * 1024 * 1024;
  static constexpr size_t kMaxReadBytes = 64 * 1024;
  static constexpr int64_t kDefaultReadCount = 4096;

  GuestFiles() = default;
  GuestFiles(const GuestFiles&) = delete;
  GuestFiles& operator=(const GuestFiles&) = delete;
  ~GuestFiles();

  FileResult Open(const std::string& path, const std::string& mode);
  FileResult Read(int64_t handle, int64_t count);
  FileResult Write(int64_t handle, const std::string& data, int64_t count);
  // whence: 0/1/2 or "set"/"cur"/"end" (QAPI's GuestFileWhence).
  FileResult Seek(int64_t handle, int64_t offset, const nlohmann::json& whence);
  FileResult Flush(int64_t handle);
  FileResult Close(int64_t handle);

  size_t open_count() const { return fds_.size(); }

  // open(2) flags for a qemu-ga mode string, or -1 if the mode is invalid.
  static int FlagsForMode(const std::string& mode);

 private:
  int Fd(int64_t handle, FileResult* error) const;

  std::map<int64_t, int> fds_;
  int64_t next_handle_ = 1000;
};

}  // namespace kumo::agent
