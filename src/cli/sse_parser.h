// SseParser: reads a Server-Sent Events stream (text/event-stream, as
// kumod's GET /v1/watch writes it) from chunks of any size, and hands out
// each complete message. It follows the WHATWG event-stream rules: lines end
// with LF, CRLF or CR; a blank line ends a message; `data:` lines join with
// "\n"; lines starting with ':' are comments; one space after the colon is
// dropped; unknown fields are ignored; a message with no data is not handed
// out (but its id still counts as the last event id).
//
// The stream comes from the network, so what the parser holds is bounded: a
// line or a message's data longer than its limit stops the parser (Feed
// returns false from then on) instead of growing the CLI's memory.
// Pure: no I/O.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kumo::cli {

struct SseMessage {
  std::string event = "message";  // the `event:` field; "message" when there was none
  std::string data;               // the `data:` lines joined with "\n"
  std::optional<std::string> id;  // this message's own `id:` field, if it had one
};

class SseParser {
 public:
  struct Limits {
    size_t max_line = 256 * 1024;          // bytes in one line
    size_t max_message = 4 * 1024 * 1024;  // bytes of data in one message
  };

  SseParser() : SseParser(Limits{}) {}
  explicit SseParser(Limits limits);

  // Parses `chunk` and appends the messages it completes to `out`. Returns
  // false, appending nothing more, once a limit was broken (see error()).
  bool Feed(std::string_view chunk, std::vector<SseMessage>* out);

  // The last `id:` seen, as a browser's EventSource keeps it for
  // Last-Event-ID (empty: none yet).
  const std::string& last_event_id() const { return last_event_id_; }
  // The last valid `retry:` value in milliseconds, if any.
  std::optional<long long> retry_ms() const { return retry_ms_; }
  // Why the parser stopped; empty while it runs.
  const std::string& error() const { return error_; }

 private:
  bool Line(std::string_view line, std::vector<SseMessage>* out);
  bool Fail(std::string why);

  Limits limits_;
  std::string line_;        // the line read so far
  bool after_cr_ = false;   // the last byte was a CR: a LF right after it ends nothing
  bool first_line_ = true;  // a UTF-8 BOM starting the stream is dropped
  SseMessage message_;      // the message being read
  bool has_data_ = false;
  std::string last_event_id_;
  std::optional<long long> retry_ms_;
  std::string error_;
};

}  // namespace kumo::cli
