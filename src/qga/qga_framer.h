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
//    kMaxNesting, gets one error as soon as it passes the bound; the framer
//    then discards the rest of it unbuffered, up to the brace or bracket that
//    closes it, and the stream goes on with the next message.
//
// Memory: the framer never holds more than `max_message_bytes` (its buffer
// grows by doubling, capped at the limit), and it releases the buffer after
// each message, so a large one leaves no high-water mark (and kumod, with one
// framer per server, holds nothing for an idle link).
#pragma once

#include <cstddef>
#include <functional>
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
  // The host side's bound on one reply: guest-exec-status carries up to
  // 256 KiB per output stream, base64-encoded (src/guestlink/agent_replies.h).
  static constexpr size_t kDefaultMaxMessageBytes = 1 << 20;  // 1 MiB
  // kumo-agent's bound on one request. Its largest legitimate requests carry
  // data in base64 (guest-exec's input, guest-file-write's buffer): 256 KiB
  // takes about 190 KiB of data per call. Kept low because an agent inside a
  // guest that is out of memory must not grow for a hostile request: its
  // peak RSS goal is 1.5 MiB (bench/README.md).
  static constexpr size_t kMaxRequestBytes = 256 << 10;  // 256 KiB
  static constexpr int kMaxNesting = 128;

  // Receives each message or error as it is framed; `text` is valid only
  // during the call.
  using Sink = std::function<void(FramedItem::Kind kind, std::string_view text)>;

  explicit QgaFramer(size_t max_message_bytes = kDefaultMaxMessageBytes)
      : max_message_bytes_(max_message_bytes) {}

  // Consumes `bytes`, handing every complete message or error to `sink` in
  // order.
  void Feed(std::string_view bytes, const Sink& sink);
  // Consumes `bytes`, appending every complete message or error to `out`.
  void Feed(std::string_view bytes, std::vector<FramedItem>& out);

  // Drops any partial message (a new client connected, say).
  void Reset();

  // Bytes held for an incomplete message; never more than max_message_bytes.
  size_t buffered_bytes() const { return buffer_.size(); }
  // Bytes allocated for them; never more than max_message_bytes either.
  size_t capacity_bytes() const { return buffer_.capacity(); }

 private:
  // kDiscarding: an oversized or too deeply nested message was refused; its
  // remaining bytes are followed for structure only, until it closes.
  enum class State { kIdle, kInMessage, kDiscarding, kGarbage };

  void FeedByte(char c, const Sink& sink);
  void TrackStructure(char c);
  void Append(char c);
  void Refuse(const Sink& sink);
  void ReleaseBuffer();

  size_t max_message_bytes_;
  State state_ = State::kIdle;
  std::string buffer_;
  int depth_ = 0;
  bool in_string_ = false;
  bool escaped_ = false;
};

}  // namespace kumo::qga
