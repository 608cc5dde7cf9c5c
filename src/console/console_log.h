// The serial console's on-disk record. QEMU appends everything the guest
// prints to RUN_DIR/console.log (O_APPEND, even with no client connected);
// kumod rotates it so that disk use stays bounded while at least
// kConsoleLogRotateBytes of history are kept: console.log.1 holds the older
// part, console.log the newer, and the two concatenated are the scrollback.
//
// These functions touch only files: they work with no QEMU and no broker
// running (server stopped, kumod restarted).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace kumo::console {

// console.log is rotated once it is larger than this.
inline constexpr uint64_t kConsoleLogRotateBytes = 1024 * 1024;
// A rotation keeps at most this much of an oversized console.log (one that
// grew while kumod was away); normally it keeps all of it.
inline constexpr uint64_t kMaxRotatedBytes = 2 * kConsoleLogRotateBytes;
// ReadScrollback returns at most this many bytes (the newest).
inline constexpr size_t kMaxScrollbackBytes = 4 * 1024 * 1024;

// "RUN_DIR/console.log" → "RUN_DIR/console.log.1".
std::string RotatedLogPath(const std::string& console_log);

// console.log.1 followed by console.log (missing files count as empty), the
// newest kMaxScrollbackBytes at most; with tail_lines > 0 only the last
// tail_lines lines (as `tail -n`). Raw bytes, as the guest wrote them.
std::string ReadScrollback(const std::string& console_log, size_t tail_lines = 0);

// The last `n` lines of `text` (all of it if it has fewer), as `tail -n`: a
// final line without '\n' counts as a line; n == 0 returns all of `text`.
std::string_view TailLines(std::string_view text, size_t n);

// If console_log is larger than `limit`: copies it (its newest
// kMaxRotatedBytes at most) to console.log.1, replacing the old one, then
// truncates console_log to 0; QEMU's O_APPEND writes go on at the new end.
// Bytes QEMU appends between the final copy and the truncation (a window of
// microseconds) are lost. *rotated (optional) says whether it rotated; *size
// (optional) is console_log's size afterwards (0 once rotated or missing).
// A missing console_log is no error.
Status RotateConsoleLogIfLarger(const std::string& console_log, uint64_t limit, bool* rotated,
                                uint64_t* size = nullptr);

// Keeps one console.log bounded without looking at the file for every chunk
// of output: QEMU logs exactly the bytes it sends to the broker, so the
// broker counts what it reads (Appended) on top of the size last seen, and
// the file is opened only when that count passes the limit (then rotated if
// it really is larger) or when Check() is called — at start, and while no
// client is connected (QEMU then logs what nobody reads). The count may lag
// the file by what sits unread in the socket; the rotation looks at the
// file itself, so the bound holds.
class ConsoleLogRotator {
 public:
  ConsoleLogRotator(std::string console_log, uint64_t limit);

  // `n` more bytes reached the log; rotates if the count passes the limit.
  Status Appended(uint64_t n);
  // Looks at the file now: rotates it if larger than the limit, and takes
  // its size as the count.
  Status Check();

  uint64_t counted_size() const { return size_; }
  uint64_t file_checks() const { return checks_; }  // times the file was opened
  uint64_t rotations() const { return rotations_; }

 private:
  std::string path_;
  uint64_t limit_;
  uint64_t size_ = 0;
  uint64_t checks_ = 0;
  uint64_t rotations_ = 0;
};

}  // namespace kumo::console
