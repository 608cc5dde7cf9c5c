#include "qga/qga_framer.h"

namespace kumo::qga {
namespace {

constexpr unsigned char kResyncByte = 0xFF;

bool IsJsonWhitespace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

void QgaFramer::Reset() {
  state_ = State::kIdle;
  buffer_.clear();
  buffer_.shrink_to_fit();
  depth_ = 0;
  in_string_ = false;
  escaped_ = false;
}

void QgaFramer::Feed(std::string_view bytes, std::vector<FramedItem>& out) {
  for (char c : bytes) FeedByte(c, out);
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

void QgaFramer::FeedByte(char c, std::vector<FramedItem>& out) {
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
        out.push_back({FramedItem::Kind::kError, "JSON parse error, expected a JSON object"});
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
      buffer_ += c;
      if (depth_ == 0) {
        out.push_back({FramedItem::Kind::kMessage, std::move(buffer_)});
        Reset();
      } else if (buffer_.size() > max_message_bytes_ || depth_ > kMaxNesting) {
        out.push_back({FramedItem::Kind::kError,
                       depth_ > kMaxNesting ? "JSON parse error, message nested too deeply"
                                            : "JSON parse error, message larger than " +
                                                  std::to_string(max_message_bytes_) + " bytes"});
        buffer_.clear();
        buffer_.shrink_to_fit();
        state_ = State::kSkipping;
      }
      return;
    case State::kSkipping:
      TrackStructure(c);
      if (depth_ <= 0) Reset();
      return;
  }
}

}  // namespace kumo::qga
