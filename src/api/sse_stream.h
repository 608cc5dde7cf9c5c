// BeastEventStream: the EventStream (event_stream.h) on a TCP connection that
// HttpServer took out of an HTTP session. It answers the request itself (200,
// text/event-stream), then writes, in order: `retry: 1000`, the messages
// queued by Send, and a `: keep-alive` comment whenever the stream has been
// idle for a heartbeat interval.
//
// Framing: for HTTP/1.1 the body is chunked (Transfer-Encoding: chunked), so
// a client can tell a stream that ended (the last, empty chunk) from one that
// was cut; HTTP/1.0 has no chunks, so there the body ends when the
// connection closes. Either way the connection closes after the stream ends.
//
// Bounds and timeouts: the bytes held for the peer (queued_bytes(): the
// queue plus the write in flight, framing included) never exceed
// max_queued_bytes; room for the final `event: dropped` message is kept
// aside, so a drop can always queue it. A write that the peer has not taken
// within write_timeout closes the connection and frees the queue, so a peer
// that never reads again costs kumod nothing after that. An idle, healthy
// stream has no deadline at all. A read stays pending on the connection so
// that the peer going away (EOF, reset) ends the stream at once.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>

// clang-format off
#include "common/asio.h"
// clang-format on
#include "api/event_stream.h"

namespace kumo::api {

// Below their floors (10 ms, 4 KiB, 10 ms), values are raised to them.
struct EventStreamOptions {
  std::chrono::milliseconds heartbeat{15000};
  size_t max_queued_bytes = 1024 * 1024;
  std::chrono::milliseconds write_timeout{30000};
};

class BeastEventStream final : public EventStream,
                               public std::enable_shared_from_this<BeastEventStream> {
 public:
  // `http_version` is the request's (11 for HTTP/1.1, 10 for HTTP/1.0).
  BeastEventStream(boost::asio::ip::tcp::socket socket, unsigned http_version,
                   EventStreamOptions options);
  ~BeastEventStream() override;

  // Sends the response header and `retry: 1000`, starts the heartbeat and
  // watching the peer. REQUIRES: called once, first.
  void Start();

  // Keeps `hold` (e.g. the connection's place under HttpServer's cap) until
  // the connection closes.
  void HoldWhileConnected(std::shared_ptr<void> hold) { hold_ = std::move(hold); }

  bool Send(const SseMessage& message) override;
  void SetCloseHandler(std::function<void()> handler) override;
  void Close() override;
  bool closed() const override { return state_ != State::kOpen; }

  // Bytes held for the peer: queued plus being written, HTTP framing
  // included. Never more than max_queued_bytes.
  size_t queued_bytes() const { return queued_bytes_; }
  size_t max_queued_bytes() const { return options_.max_queued_bytes; }
  // True if the stream was dropped because the peer did not keep up.
  bool dropped() const { return dropped_; }
  // True until the connection is closed (after Close or a drop, it stays open
  // while what is queued is written, at most write_timeout per write).
  bool connected() const { return state_ != State::kEnded; }

 private:
  // kOpen: Send queues. kEnding: Send refused; the queue is being written,
  // then the connection closes. kEnded: the connection is closed.
  enum class State { kOpen, kEnding, kEnded };

  std::string Frame(const std::string& payload) const;
  void Enqueue(std::string bytes);
  void Drop();
  void End();
  void Read();
  void ArmHeartbeat();
  void Pump();
  void Finish();
  void NotifyClosed();

  boost::asio::ip::tcp::socket socket_;
  const bool chunked_;
  const unsigned http_version_;
  EventStreamOptions options_;
  size_t drop_reserve_ = 0;  // the framed `dropped` message plus the last chunk
  std::string drop_message_;
  State state_ = State::kOpen;
  std::deque<std::string> queue_;
  size_t queued_bytes_ = 0;  // queue_ plus writing_
  std::string writing_;
  bool write_pending_ = false;
  uint64_t write_generation_ = 0;
  std::chrono::steady_clock::time_point last_write_{};  // when the latest write began
  boost::asio::steady_timer heartbeat_;
  boost::asio::steady_timer write_deadline_;
  std::array<char, 1024> read_buffer_{};
  bool dropped_ = false;
  std::function<void()> on_close_;
  std::shared_ptr<void> hold_;
  bool close_notified_ = false;   // the call of on_close_ is posted
  bool close_delivered_ = false;  // ... and has run
};

}  // namespace kumo::api
