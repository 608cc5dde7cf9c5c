#include "cli/sse_parser.h"

#include <utility>

namespace kumo::cli {

SseParser::SseParser(Limits limits) : limits_(limits) {}

bool SseParser::Fail(std::string why) {
  error_ = std::move(why);
  line_.clear();
  line_.shrink_to_fit();
  message_ = SseMessage{};
  return false;
}

bool SseParser::Feed(std::string_view chunk, std::vector<SseMessage>* out) {
  if (!error_.empty()) return false;
  size_t start = 0;
  for (size_t i = 0; i < chunk.size(); ++i) {
    char c = chunk[i];
    if (c != '\n' && c != '\r') continue;
    bool lf_after_cr = c == '\n' && after_cr_ && i == start && line_.empty();
    after_cr_ = c == '\r';
    if (lf_after_cr) {  // the second half of a CRLF split across chunks
      start = i + 1;
      continue;
    }
    if (line_.size() + (i - start) > limits_.max_line) {
      return Fail("a line of the event stream is longer than " + std::to_string(limits_.max_line) +
                  " bytes");
    }
    line_.append(chunk.substr(start, i - start));
    if (!Line(line_, out)) return false;
    line_.clear();
    start = i + 1;
    if (c == '\r' && start < chunk.size() && chunk[start] == '\n') {
      after_cr_ = false;
      ++i;
      ++start;
    }
  }
  if (start < chunk.size()) {
    after_cr_ = false;
    if (line_.size() + (chunk.size() - start) > limits_.max_line) {
      return Fail("a line of the event stream is longer than " + std::to_string(limits_.max_line) +
                  " bytes");
    }
    line_.append(chunk.substr(start));
  }
  return true;
}

bool SseParser::Line(std::string_view line, std::vector<SseMessage>* out) {
  if (first_line_) {
    first_line_ = false;
    constexpr std::string_view kBom = "\xEF\xBB\xBF";
    if (line.substr(0, kBom.size()) == kBom) line.remove_prefix(kBom.size());
  }
  if (line.empty()) {  // the end of a message
    if (has_data_) {
      message_.data.pop_back();  // the "\n" after the last data line
      out->push_back(std::move(message_));
    }
    message_ = SseMessage{};
    has_data_ = false;
    return true;
  }
  if (line.front() == ':') return true;  // a comment (keep-alive)
  std::string_view field = line, value;
  if (size_t colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (message_.data.size() + value.size() + 1 > limits_.max_message) {
      return Fail("a message of the event stream is longer than " +
                  std::to_string(limits_.max_message) + " bytes");
    }
    message_.data.append(value);
    message_.data.push_back('\n');
    has_data_ = true;
  } else if (field == "event") {
    message_.event = value.empty() ? "message" : std::string(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) {
      message_.id = std::string(value);
      last_event_id_ = std::string(value);
    }
  } else if (field == "retry") {
    bool digits = !value.empty() && value.size() <= 12;
    for (char c : value) digits = digits && c >= '0' && c <= '9';
    if (digits) retry_ms_ = std::stoll(std::string(value));
  }
  return true;
}

}  // namespace kumo::cli
