// QgaFramer cuts the agent channel's byte stream into JSON messages the way
// QEMU's guest agent does: objects arrive back to back, newlines optional, a
// message may be split across reads, several may share one read.
//
// Framing rules:
//  - A 0xFF byte (never valid in JSON text) discards any half-read message;
//    clients send it before guest-sync-delimited to resynchronise.
//  - Bytes outside an object that are not whitespace are garbage: one error per
//    run of garbage, then the framer waits for the next '{'.
//  - A message longer than `max_message_bytes`, or nested deeper than
//    kMaxNesting, gets one error and is skipped to its end; the stream goes on.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace kumo::qga {

struct FramedItem {
  enum class Kind { kMessage, kError };
  Kind kind;
  std::string text;  // the message, or the error description
};

class QgaFramer {
 public:
  static constexpr size_t kDefaultMaxMessageBytes = 1 << 20;  // 1 MiB
  static constexpr int kMaxNesting = 128;

  explicit QgaFramer(size_t max_message_bytes = kDefaultMaxMessageBytes)
      : max_message_bytes_(max_message_bytes) {}

  // Consumes `bytes`, appending every complete message or error to `out`.
  void Feed(std::string_view bytes, std::vector<FramedItem>& out);

  // Drops any partial message (a new client connected, say).
  void Reset();

  // Bytes held for an incomplete message; never more than max_message_bytes.
  size_t buffered_bytes() const { return buffer_.size(); }

 private:
  enum class State { kIdle, kInMessage, kSkipping, kGarbage };

  void FeedByte(char c, std::vector<FramedItem>& out);
  void TrackStructure(char c);

  size_t max_message_bytes_;
  State state_ = State::kIdle;
  std::string buffer_;
  int depth_ = 0;
  bool in_string_ = false;
  bool escaped_ = false;
};

}  // namespace kumo::qga
