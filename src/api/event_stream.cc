#include "api/event_stream.h"

namespace kumo::api {
namespace {

// An "id:" or "event:" value on one line: a line end inside it would end
// the field early and let the rest be read as fields of its own.
std::string OneLine(const std::string& value, bool strip_nul) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\r' || c == '\n' || (strip_nul && c == '\0')) continue;
    out += c;
  }
  return out;
}

}  // namespace

std::string FormatSse(const SseMessage& message) {
  std::string out;
  out.reserve(message.data.size() + message.id.size() + message.event.size() + 32);
  // An id with NUL is ignored by EventSource (it keeps the previous one).
  std::string id = OneLine(message.id, true), event = OneLine(message.event, false);
  if (!id.empty()) out += "id: " + id + "\n";
  if (!event.empty()) out += "event: " + event + "\n";
  const std::string& data = message.data;
  size_t start = 0;
  while (true) {
    size_t end = data.find_first_of("\r\n", start);
    out += "data: ";
    out.append(data, start, end == std::string::npos ? std::string::npos : end - start);
    out += '\n';
    if (end == std::string::npos) break;
    start = end + (data[end] == '\r' && end + 1 < data.size() && data[end + 1] == '\n' ? 2 : 1);
  }
  out += '\n';
  return out;
}

}  // namespace kumo::api
