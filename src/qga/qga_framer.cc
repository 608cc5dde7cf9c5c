#include "qga/qga_framer.h"

#include <algorithm>

namespace kumo::qga {
namespace {

constexpr unsigned char kResyncByte = 0xFF;

bool IsJsonWhitespace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

void QgaFramer::Reset() {
  state_ = State::kIdle;
  ReleaseBuffer();
  depth_ = 0;
  in_string_ = false;
  escaped_ = false;
}

void QgaFramer::ReleaseBuffer() {
  buffer_.clear();
  buffer_.shrink_to_fit();
}

void QgaFramer::Feed(std::string_view bytes, const Sink& sink) {
  for (char c : bytes) FeedByte(c, sink);
}

void QgaFramer::Feed(std::string_view bytes, std::vector<FramedItem>& out) {
  Feed(bytes, [&out](FramedItem::Kind kind, std::string_view text) {
    out.push_back({kind, std::string(text)});
  });
}

// REQUIRES: buffer_.size() < max_message_bytes_.
void QgaFramer::Append(char c) {
  if (buffer_.size() == buffer_.capacity()) {
    // Doubling, but never past the limit. A fresh string is reserved because
    // reserve() on a non-empty one may round up to twice its capacity.
    size_t wanted = std::min(std::max<size_t>(2 * buffer_.capacity(), 256), max_message_bytes_);
    std::string grown;
    grown.reserve(wanted);
    grown.append(buffer_);
    buffer_.swap(grown);
  }
  buffer_ += c;
}

void QgaFramer::Refuse(const Sink& sink) {
  sink(FramedItem::Kind::kError, depth_ > kMaxNesting
                                     ? "JSON parse error, message nested too deeply"
                                     : "JSON parse error, message larger than " +
                                           std::to_string(max_message_bytes_) + " bytes");
  ReleaseBuffer();
  // Refused at its closing byte, the message is already over.
  state_ = depth_ > 0 ? State::kDiscarding : State::kIdle;
}

void QgaFramer::TrackStructure(char c) {
  if (in_string_) {
    if (escaped_) {
      escaped_ = false;
    } else if (c == '\\') {
      escaped_ = true;
    } else if (c == '"') {
      in_string_ = false;
    }
    return;
  }
  switch (c) {
    case '"':
      in_string_ = true;
      break;
    case '{':
    case '[':
      ++depth_;
      break;
    case '}':
    case ']':
      --depth_;
      break;
    default:
      break;
  }
}

void QgaFramer::FeedByte(char c, const Sink& sink) {
  if (static_cast<unsigned char>(c) == kResyncByte) {
    Reset();
    return;
  }
  switch (state_) {
    case State::kGarbage:
      if (c != '{' && c != '[') return;
      state_ = State::kIdle;
      [[fallthrough]];
    case State::kIdle:
      if (IsJsonWhitespace(c)) return;
      if (c != '{' && c != '[') {
        sink(FramedItem::Kind::kError, "JSON parse error, expected a JSON object");
        state_ = State::kGarbage;
        return;
      }
      state_ = State::kInMessage;
      depth_ = 0;
      in_string_ = false;
      escaped_ = false;
      [[fallthrough]];
    case State::kInMessage:
      TrackStructure(c);
      if (depth_ > kMaxNesting || buffer_.size() == max_message_bytes_) {
        Refuse(sink);
        return;
      }
      Append(c);
      if (depth_ == 0) {
        sink(FramedItem::Kind::kMessage, buffer_);
        state_ = State::kIdle;
        ReleaseBuffer();
      }
      return;
    case State::kDiscarding:
      TrackStructure(c);
      if (depth_ <= 0) Reset();
      return;
  }
}

}  // namespace kumo::qga
