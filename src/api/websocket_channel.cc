#include "api/websocket_channel.h"

namespace kumo::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

namespace {

// Outgoing bytes are gathered into messages of up to this size.
constexpr size_t kMaxOutgoingMessageBytes = 64 * 1024;
constexpr auto kCloseDeadline = std::chrono::seconds(5);
// RFC 6455: a close frame's payload is at most 125 bytes, 2 of them the code.
constexpr size_t kMaxCloseReasonBytes = 120;

}  // namespace

BeastWebSocketChannel::~BeastWebSocketChannel() = default;

void BeastWebSocketChannel::Accept(beast::tcp_stream stream, Request request) {
  state_ = State::kAccepting;
  ws_.emplace(std::move(stream));
  // The WebSocket's own timeouts take over from the HTTP session's.
  beast::get_lowest_layer(*ws_).expires_never();
  websocket::stream_base::timeout timeout{};
  timeout.handshake_timeout = std::chrono::seconds(10);
  timeout.idle_timeout = std::chrono::seconds(30);
  timeout.keep_alive_pings = true;
  ws_->set_option(timeout);
  ws_->set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(http::field::server, "kumod"); }));
  ws_->read_message_max(kMaxMessageBytes);
  ws_->binary(true);
  if (overflowed_) return Drop();
  if (close_requested_) {
    close_deadline_.emplace(ws_->get_executor());
    close_deadline_->expires_after(kCloseDeadline);
    close_deadline_->async_wait([weak = weak_from_this()](beast::error_code ec) {
      if (auto self = weak.lock(); self && !ec) self->Drop();
    });
  }
  ws_->async_accept(request, [self = shared_from_this()](beast::error_code ec) {
    if (self->state_ == State::kClosed) return;
    if (ec) return self->Finish();
    self->state_ = State::kOpen;
    self->Read();
    self->Pump();
  });
}

bool BeastWebSocketChannel::Send(std::string bytes) {
  if (state_ == State::kClosing || state_ == State::kClosed || close_requested_ || overflowed_) {
    return false;
  }
  if (bytes.empty()) return true;
  if (queued_bytes_ + bytes.size() > kMaxQueuedBytes) {
    overflowed_ = true;
    Drop();
    return false;
  }
  queued_bytes_ += bytes.size();
  queue_.push_back(std::move(bytes));
  Pump();
  return true;
}

void BeastWebSocketChannel::OnMessage(std::function<void(std::string)> handler) {
  if (state_ != State::kClosed) on_message_ = std::move(handler);
}

void BeastWebSocketChannel::OnClose(std::function<void()> handler) {
  if (state_ != State::kClosed) on_close_ = std::move(handler);
}

void BeastWebSocketChannel::Close(std::string reason) {
  if (state_ == State::kClosing || state_ == State::kClosed || close_requested_) return;
  close_requested_ = true;
  if (reason.size() > kMaxCloseReasonBytes) reason.resize(kMaxCloseReasonBytes);
  close_reason_ = std::move(reason);
  if (!ws_) return;  // Accept arms the deadline
  close_deadline_.emplace(ws_->get_executor());
  close_deadline_->expires_after(kCloseDeadline);
  close_deadline_->async_wait([weak = weak_from_this()](beast::error_code ec) {
    if (auto self = weak.lock(); self && !ec) self->Drop();
  });
  Pump();
}

void BeastWebSocketChannel::Read() {
  ws_->async_read(read_buffer_, [self = shared_from_this()](beast::error_code ec, size_t) {
    if (self->state_ == State::kClosed) return;
    // Too big (1009), closed by the peer, timed out, reset: the end.
    if (ec) return self->Finish();
    std::string message = beast::buffers_to_string(self->read_buffer_.data());
    self->read_buffer_.consume(self->read_buffer_.size());
    if (self->on_message_) {
      auto handler = self->on_message_;  // it may replace itself
      handler(std::move(message));
    }
    if (self->state_ == State::kOpen || self->state_ == State::kClosing) self->Read();
  });
}

void BeastWebSocketChannel::Pump() {
  if (state_ != State::kOpen || write_pending_ || overflowed_) return;
  if (queue_.empty()) {
    if (!close_requested_) return;
    state_ = State::kClosing;
    ws_->async_close(websocket::close_reason(websocket::close_code::normal, close_reason_),
                     [self = shared_from_this()](beast::error_code) { self->Finish(); });
    return;
  }
  writing_.clear();
  while (!queue_.empty() && (writing_.empty() ||
                             writing_.size() + queue_.front().size() <= kMaxOutgoingMessageBytes)) {
    writing_ += queue_.front();
    queue_.pop_front();
  }
  write_pending_ = true;
  ws_->async_write(asio::buffer(writing_),
                   [self = shared_from_this()](beast::error_code ec, size_t) {
                     self->write_pending_ = false;
                     if (self->state_ == State::kClosed) return;
                     if (ec) return self->Finish();
                     self->queued_bytes_ -= self->writing_.size();
                     self->writing_.clear();
                     self->Pump();
                   });
}

void BeastWebSocketChannel::Drop() {
  if (state_ == State::kClosed) return;
  if (!ws_) return;  // not accepted yet: Accept drops it
  beast::error_code ignored;
  beast::get_lowest_layer(*ws_).socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  beast::get_lowest_layer(*ws_).socket().close(ignored);
  // Pending operations end with errors; OnClose comes from the loop, not from
  // inside the caller (e.g. a Send).
  asio::post(ws_->get_executor(), [self = shared_from_this()] { self->Finish(); });
}

void BeastWebSocketChannel::Finish() {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  if (close_deadline_) close_deadline_->cancel();
  if (ws_) {
    beast::error_code ignored;
    beast::get_lowest_layer(*ws_).socket().close(ignored);
  }
  hold_.reset();
  queue_.clear();
  queued_bytes_ = 0;
  auto on_close = std::move(on_close_);
  on_close_ = nullptr;
  on_message_ = nullptr;
  if (on_close) on_close();
}

}  // namespace kumo::api
