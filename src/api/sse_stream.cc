#include "api/sse_stream.h"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>
#include <sstream>

namespace kumo::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// Queued messages are written together, up to this much per write, so that
// write_timeout measures the peer's progress, not the size of the backlog.
constexpr size_t kMaxWriteBytes = 64 * 1024;
constexpr size_t kMinQueuedBytes = 4 * 1024;  // the header, retry and the notice fit
constexpr std::chrono::milliseconds kMinInterval{10};
// EventSource waits this long before it reconnects (after a drop, say).
constexpr char kRetry[] = "retry: 1000\n\n";
constexpr char kKeepAlive[] = ": keep-alive\n\n";
constexpr char kLastChunk[] = "0\r\n\r\n";

std::string ResponseHeader(unsigned http_version, bool chunked) {
  http::response<http::empty_body> res(http::status::ok, http_version);
  res.set(http::field::server, "kumod");
  res.set(http::field::content_type, "text/event-stream");
  res.set(http::field::cache_control, "no-cache");
  // nginx buffers proxied responses unless told not to.
  res.set("X-Accel-Buffering", "no");
  res.keep_alive(false);
  if (chunked) res.chunked(true);
  std::ostringstream out;
  out << res.base();
  return out.str();
}

}  // namespace

namespace {
constexpr int kSendBufferBytes = 64 * 1024;
}  // namespace

BeastEventStream::BeastEventStream(tcp::socket socket, unsigned http_version,
                                   EventStreamOptions options)
    : socket_(std::move(socket)),
      chunked_(http_version >= 11),
      http_version_(http_version),
      options_(options),
      heartbeat_(socket_.get_executor()),
      write_deadline_(socket_.get_executor()) {
  options_.max_queued_bytes = std::max(options_.max_queued_bytes, kMinQueuedBytes);
  options_.heartbeat = std::max(options_.heartbeat, kMinInterval);  // 0 would spin
  options_.write_timeout = std::max(options_.write_timeout, kMinInterval);
  nlohmann::json data = {
      {"reason", "the client fell behind: more than " +
                     std::to_string(options_.max_queued_bytes / 1024) +
                     " KiB of events waited for it; reconnect with Last-Event-ID to resume"}};
  drop_message_ = Frame(FormatSse({"", "dropped", data.dump()}));
  drop_reserve_ = drop_message_.size() + (chunked_ ? sizeof(kLastChunk) - 1 : 0);
  // The kernel's send buffer would otherwise grow (autotuning) to megabytes
  // for a client that does not read, outside the queue's bound. A change
  // feed needs little: 64 KiB (the kernel doubles it) keeps well over 1 MB/s
  // at a 100 ms round trip.
  boost::system::error_code ignored;
  socket_.set_option(boost::asio::socket_base::send_buffer_size(kSendBufferBytes), ignored);
}

BeastEventStream::~BeastEventStream() = default;

void BeastEventStream::Start() {
  Enqueue(ResponseHeader(http_version_, chunked_) + Frame(kRetry));
  Read();
  ArmHeartbeat();
  Pump();
}

std::string BeastEventStream::Frame(const std::string& payload) const {
  if (!chunked_ || payload.empty()) return payload;
  char size[24];
  snprintf(size, sizeof size, "%zx\r\n", payload.size());
  return size + payload + "\r\n";
}

void BeastEventStream::Enqueue(std::string bytes) {
  queued_bytes_ += bytes.size();
  queue_.push_back(std::move(bytes));
}

bool BeastEventStream::Send(const SseMessage& message) {
  if (state_ != State::kOpen) return false;
  std::string bytes = Frame(FormatSse(message));
  if (queued_bytes_ + bytes.size() + drop_reserve_ > options_.max_queued_bytes) {
    Drop();
    return false;
  }
  Enqueue(std::move(bytes));
  Pump();
  return true;
}

void BeastEventStream::SetCloseHandler(std::function<void()> handler) {
  if (close_delivered_) {
    if (handler) asio::post(socket_.get_executor(), std::move(handler));
    return;
  }
  on_close_ = std::move(handler);
}

void BeastEventStream::Close() {
  if (state_ != State::kOpen) return;
  End();
}

// The messages already queued stay (Send accepted them; a client that reads
// on gets them in order, then the notice): the notice fits, space for it was
// kept aside.
void BeastEventStream::Drop() {
  dropped_ = true;
  Enqueue(drop_message_);
  End();
}

void BeastEventStream::End() {
  state_ = State::kEnding;
  heartbeat_.cancel();
  if (chunked_) Enqueue(kLastChunk);
  NotifyClosed();
  Pump();
}

void BeastEventStream::Read() {
  // Nothing is expected from the peer; reading is how its going away shows.
  socket_.async_read_some(asio::buffer(read_buffer_),
                          [self = shared_from_this()](beast::error_code ec, size_t) {
                            if (self->state_ == State::kEnded) return;
                            if (ec) return self->Finish();
                            self->Read();
                          });
}

// The comment goes out only after a full interval without writes: a busy
// stream needs none.
void BeastEventStream::ArmHeartbeat() {
  auto now = std::chrono::steady_clock::now();
  heartbeat_.expires_at(std::max(last_write_ + options_.heartbeat, now));
  heartbeat_.async_wait([weak = weak_from_this()](beast::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->state_ != State::kOpen) return;
    auto now = std::chrono::steady_clock::now();
    if (self->write_pending_ || !self->queue_.empty()) {
      self->last_write_ = now;  // writing: not idle
    } else if (now >= self->last_write_ + self->options_.heartbeat) {
      self->Enqueue(self->Frame(kKeepAlive));
      self->Pump();
    }
    self->ArmHeartbeat();
  });
}

void BeastEventStream::Pump() {
  if (state_ == State::kEnded || write_pending_) return;
  if (queue_.empty()) {
    if (state_ == State::kEnding) {
      beast::error_code ignored;
      socket_.shutdown(tcp::socket::shutdown_send, ignored);
      Finish();
    }
    return;
  }
  writing_.clear();
  while (!queue_.empty() &&
         (writing_.empty() || writing_.size() + queue_.front().size() <= kMaxWriteBytes)) {
    writing_ += queue_.front();
    queue_.pop_front();
  }
  write_pending_ = true;
  last_write_ = std::chrono::steady_clock::now();
  uint64_t generation = ++write_generation_;
  write_deadline_.expires_after(options_.write_timeout);
  write_deadline_.async_wait([weak = weak_from_this(), generation](beast::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || !self->write_pending_ || self->write_generation_ != generation) return;
    self->Finish();  // the peer took nothing for write_timeout
  });
  asio::async_write(socket_, asio::buffer(writing_),
                    [self = shared_from_this()](beast::error_code ec, size_t) {
                      self->write_pending_ = false;
                      self->write_deadline_.cancel();
                      self->queued_bytes_ -= self->writing_.size();
                      self->writing_ = std::string();
                      if (self->state_ == State::kEnded) return;
                      if (ec) return self->Finish();
                      self->Pump();
                    });
}

// The connection closes; what was still queued is freed.
void BeastEventStream::Finish() {
  if (state_ == State::kEnded) return;
  state_ = State::kEnded;
  beast::error_code ignored;
  socket_.close(ignored);  // a pending write or read ends with operation_aborted
  hold_.reset();
  heartbeat_.cancel();
  write_deadline_.cancel();
  for (const auto& bytes : queue_) queued_bytes_ -= bytes.size();
  queue_ = {};
  NotifyClosed();
}

void BeastEventStream::NotifyClosed() {
  if (close_notified_) return;
  close_notified_ = true;
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->close_delivered_ = true;
    auto handler = std::move(self->on_close_);
    self->on_close_ = nullptr;
    if (handler) handler();
  });
}

}  // namespace kumo::api
