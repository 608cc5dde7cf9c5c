// WebSocketChannel: one WebSocket connection that kumod accepted (see
// HttpServer::SetUpgradeHandler), carrying bytes both ways — the serial
// console's transport for the web panel and `kumo console`.
//
// The interface is what route handlers use (a test can implement it);
// BeastWebSocketChannel is the real one, made by HttpServer. Everything runs
// on kumod's event loop; handlers are invoked from it, never from inside a
// call to the channel.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

// clang-format off
#include "common/asio.h"
// clang-format on
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

namespace kumo::api {

class WebSocketChannel {
 public:
  // Incoming messages larger than this close the connection (code 1009).
  static constexpr size_t kMaxMessageBytes = 64 * 1024;
  // Outgoing bytes not yet taken by the peer, at most: a Send beyond this
  // drops the connection (a client that stopped reading must not make kumod
  // hold ever more memory).
  static constexpr size_t kMaxQueuedBytes = 1024 * 1024;

  virtual ~WebSocketChannel() = default;

  // Queues bytes for the peer. They go out in order, in binary messages of
  // up to 64 KiB (consecutive Sends may share a message: treat the channel
  // as a byte stream). False if the channel is closed or closing, or if the
  // bytes would exceed kMaxQueuedBytes: then the connection is dropped and
  // OnClose follows.
  virtual bool Send(std::string bytes) = 0;
  // Each incoming message's payload (binary or text), in order.
  virtual void OnMessage(std::function<void(std::string)> handler) = 0;
  // Called once when the connection ends, whatever the cause (peer closed or
  // vanished, Close(), overflow, failed handshake); the handlers are
  // released afterwards, so they may hold a shared_ptr to the channel.
  virtual void OnClose(std::function<void()> handler) = 0;
  // Sends what is queued, then a normal close (1000) with `reason` (at most
  // 120 bytes); the connection is cut if that has not finished in 5 s.
  virtual void Close(std::string reason = {}) = 0;
  virtual bool closed() const = 0;
};

// The Beast implementation: binary frames, pings after 30 s of silence
// (a peer silent for another 30 s is dropped), the bounds above.
class BeastWebSocketChannel final : public WebSocketChannel,
                                    public std::enable_shared_from_this<BeastWebSocketChannel> {
 public:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;

  BeastWebSocketChannel() = default;
  ~BeastWebSocketChannel() override;

  // Takes over the connection that carried the upgrade `request` and answers
  // it (101); until then Send queues and Close is remembered.
  // REQUIRES: called once.
  void Accept(boost::beast::tcp_stream stream, Request request);

  // Keeps `hold` (e.g. the connection's place under HttpServer's cap) until
  // the connection closes.
  void HoldWhileConnected(std::shared_ptr<void> hold) { hold_ = std::move(hold); }

  bool Send(std::string bytes) override;
  void OnMessage(std::function<void(std::string)> handler) override;
  void OnClose(std::function<void()> handler) override;
  void Close(std::string reason = {}) override;
  bool closed() const override { return state_ == State::kClosed; }
  // True if the connection was dropped because the peer did not keep up.
  bool overflowed() const { return overflowed_; }

 private:
  enum class State { kPending, kAccepting, kOpen, kClosing, kClosed };

  void Read();
  void Pump();
  void Drop();
  void Finish();

  State state_ = State::kPending;
  std::optional<boost::beast::websocket::stream<boost::beast::tcp_stream>> ws_;
  std::optional<boost::asio::steady_timer> close_deadline_;
  boost::beast::flat_buffer read_buffer_;
  std::function<void(std::string)> on_message_;
  std::function<void()> on_close_;
  std::shared_ptr<void> hold_;
  std::deque<std::string> queue_;
  size_t queued_bytes_ = 0;  // queue_ plus the message being written
  std::string writing_;
  bool write_pending_ = false;
  bool close_requested_ = false;
  std::string close_reason_;
  bool overflowed_ = false;
};

}  // namespace kumo::api
