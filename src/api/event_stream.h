// EventStream: one Server-Sent Events response (text/event-stream, what a
// browser's EventSource reads) held open by kumod. The writer side queues
// messages; the stream writes them in order, sends a comment line every
// heartbeat interval so idle connections stay open through proxies, and
// bounds its queue: a client that stops reading is sent a final
// `event: dropped` message (when the socket still takes it) and closed, so a
// slow client never grows kumod's memory past the bound.
//
// BeastEventStream (sse_stream.h) is the real one, made by HttpServer for an
// ApiResponse with `stream` set; a test can implement this interface.
//
// Runs on kumod's event loop; not thread-safe.
#pragma once

#include <functional>
#include <string>

namespace kumo::api {

struct SseMessage {
  std::string id;     // the "id:" line (empty: none); CR, LF and NUL are removed
  std::string event;  // the "event:" line (empty: none, i.e. "message"); CR and LF removed
  std::string data;   // one "data:" line per line of text (CRLF, CR or LF end a line)
};

// The wire form of one message, ending with the blank line. There is always
// at least one "data:" line, so an EventSource dispatches every message;
// a client reads `data` back with its line ends turned into LF.
std::string FormatSse(const SseMessage& message);

class EventStream {
 public:
  virtual ~EventStream() = default;
  // Queues a message. Returns false, queueing nothing, once the stream is
  // closed — or when this message would take the queue past its bound, in
  // which case the stream is dropped (see above) and closed.
  virtual bool Send(const SseMessage& message) = 0;
  // Called once when the stream ends: the peer went away, it was dropped,
  // or Close() was called. Always from the event loop, never from inside a
  // call to the stream; set after the end, it is called soon. Released after
  // the call, so it may hold a shared_ptr to the stream.
  virtual void SetCloseHandler(std::function<void()> handler) = 0;
  // Ends the stream: what is queued is still written, then the response ends.
  virtual void Close() = 0;
  // True once Send is refused (closed, dropped, or the peer went away).
  virtual bool closed() const = 0;
};

}  // namespace kumo::api
