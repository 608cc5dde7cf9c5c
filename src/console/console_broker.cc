#include "console/console_broker.h"

#include <array>
#include <deque>
#include <iostream>
#include <map>
#include <vector>

namespace kumo::console {

namespace asio = boost::asio;
using UnixSocket = asio::local::stream_protocol::socket;
using UnixEndpoint = asio::local::stream_protocol::endpoint;

struct ConsoleBroker::Impl : std::enable_shared_from_this<Impl> {
  struct Subscriber {
    OutputHandler on_output;
    StopHandler on_stop;
    bool active = true;  // false once unsubscribed or stopped
  };

  Impl(asio::io_context& io, std::string name, Options options)
      : io(io), name(std::move(name)), options(std::move(options)), socket(io), retry_timer(io) {
    if (!this->options.log) {
      this->options.log = [n = this->name](const std::string& line) {
        std::cerr << "kumod: console " << n << ": " << line << std::endl;
      };
    }
  }

  void Connect();
  void OnConnect(uint64_t gen, const boost::system::error_code& ec);
  void ScheduleRetry();
  void ReadMore();
  void OnRead(uint64_t gen, const boost::system::error_code& ec, size_t n);
  void Deliver(std::string_view bytes);
  void WriteMore();
  void Disconnected(const std::string& why);
  void CheckRotation();
  void Shutdown(bool notify);

  asio::io_context& io;
  const std::string name;
  Options options;
  std::string socket_path;
  std::string log_path;
  UnixSocket socket;
  asio::steady_timer retry_timer;

  bool started = false;
  bool stopped = false;
  bool connected = false;
  bool writing = false;
  bool ever_connected = false;
  bool waiting_logged = false;   // "waiting for the socket", once per outage
  bool dropping_logged = false;  // "input dropped", once until the queue drains
  bool rotation_error_logged = false;
  // Bumped on every (re)connect, disconnect and stop: handlers of an older
  // connection see a different value and do nothing.
  uint64_t generation = 0;

  std::map<SubscriptionId, std::shared_ptr<Subscriber>> subscribers;
  SubscriptionId next_id = 1;
  std::deque<std::string> input;
  size_t input_bytes = 0;
  uint64_t dropped_input = 0;
  std::array<char, 16 * 1024> buffer{};
};

void ConsoleBroker::Impl::Connect() {
  if (stopped) return;
  boost::system::error_code ignored;
  socket.close(ignored);
  uint64_t gen = ++generation;
  socket.async_connect(UnixEndpoint(socket_path),
                       [self = shared_from_this(), gen](const boost::system::error_code& ec) {
                         self->OnConnect(gen, ec);
                       });
}

void ConsoleBroker::Impl::OnConnect(uint64_t gen, const boost::system::error_code& ec) {
  if (stopped || gen != generation) return;
  if (ec) {
    if (!waiting_logged) {
      options.log("waiting for QEMU's console socket " + socket_path + " (" + ec.message() +
                  "); trying every " + std::to_string(options.retry_interval.count()) + " ms");
      waiting_logged = true;
    }
    boost::system::error_code ignored;
    socket.close(ignored);
    return ScheduleRetry();
  }
  if (ever_connected || waiting_logged) options.log("connected to " + socket_path);
  connected = true;
  ever_connected = true;
  waiting_logged = false;
  ReadMore();
  WriteMore();
}

void ConsoleBroker::Impl::ScheduleRetry() {
  retry_timer.expires_after(options.retry_interval);
  retry_timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (self->stopped || ec) return;
    self->CheckRotation();  // QEMU logs even when nobody is connected
    self->Connect();
  });
}

void ConsoleBroker::Impl::ReadMore() {
  uint64_t gen = generation;
  socket.async_read_some(asio::buffer(buffer),
                         [self = shared_from_this(), gen](const boost::system::error_code& ec,
                                                          size_t n) { self->OnRead(gen, ec, n); });
}

void ConsoleBroker::Impl::OnRead(uint64_t gen, const boost::system::error_code& ec, size_t n) {
  if (stopped || gen != generation) return;
  if (ec) return Disconnected(ec.message());
  Deliver(std::string_view(buffer.data(), n));
  if (stopped || gen != generation) return;
  CheckRotation();
  ReadMore();
}

void ConsoleBroker::Impl::Deliver(std::string_view bytes) {
  std::vector<std::shared_ptr<Subscriber>> now;
  now.reserve(subscribers.size());
  for (const auto& [id, subscriber] : subscribers) now.push_back(subscriber);
  for (const auto& subscriber : now) {
    if (stopped) return;
    // `now` keeps the handler alive even if it unsubscribes itself.
    if (subscriber->active && subscriber->on_output) subscriber->on_output(bytes);
  }
}

void ConsoleBroker::Impl::WriteMore() {
  if (writing || !connected || input.empty()) return;
  writing = true;
  uint64_t gen = generation;
  asio::async_write(socket, asio::buffer(input.front()),
                    [self = shared_from_this(), gen](const boost::system::error_code& ec, size_t) {
                      if (self->stopped || gen != self->generation) return;
                      self->writing = false;
                      if (ec) return self->Disconnected(ec.message());
                      self->input_bytes -= self->input.front().size();
                      self->input.pop_front();
                      if (self->input.empty()) self->dropping_logged = false;
                      self->WriteMore();
                    });
}

void ConsoleBroker::Impl::Disconnected(const std::string& why) {
  options.log("lost QEMU's console socket (" + why + "); reconnecting");
  ++generation;
  connected = false;
  writing = false;  // the front of the input queue is sent again, whole
  boost::system::error_code ignored;
  socket.close(ignored);
  waiting_logged = true;  // just said so
  ScheduleRetry();
}

void ConsoleBroker::Impl::CheckRotation() {
  if (log_path.empty()) return;
  Status s = RotateConsoleLogIfLarger(log_path, options.rotate_bytes, nullptr);
  if (!s.ok() && !rotation_error_logged) {
    options.log("cannot rotate the console log: " + s.message());
    rotation_error_logged = true;
  } else if (s.ok()) {
    rotation_error_logged = false;
  }
}

void ConsoleBroker::Impl::Shutdown(bool notify) {
  if (stopped) return;
  stopped = true;
  ++generation;
  connected = false;
  boost::system::error_code ignored;
  socket.close(ignored);
  retry_timer.cancel();
  input.clear();
  input_bytes = 0;
  auto ending = std::move(subscribers);
  subscribers.clear();
  for (auto& [id, subscriber] : ending) {
    subscriber->active = false;
    StopHandler on_stop = std::move(subscriber->on_stop);
    if (notify && on_stop) on_stop();
  }
}

ConsoleBroker::ConsoleBroker(asio::io_context& io, std::string name)
    : ConsoleBroker(io, std::move(name), Options()) {}

ConsoleBroker::ConsoleBroker(asio::io_context& io, std::string name, Options options)
    : impl_(std::make_shared<Impl>(io, std::move(name), std::move(options))) {}

ConsoleBroker::~ConsoleBroker() { impl_->Shutdown(false); }

void ConsoleBroker::Start(const std::string& console_socket, const std::string& console_log) {
  if (impl_->started || impl_->stopped) return;
  impl_->started = true;
  impl_->socket_path = console_socket;
  impl_->log_path = console_log;
  impl_->CheckRotation();
  impl_->Connect();
}

ConsoleBroker::SubscriptionId ConsoleBroker::Subscribe(OutputHandler on_output,
                                                       StopHandler on_stop) {
  if (impl_->stopped) return kNoSubscription;
  SubscriptionId id = impl_->next_id++;
  impl_->subscribers[id] = std::make_shared<Impl::Subscriber>(
      Impl::Subscriber{std::move(on_output), std::move(on_stop)});
  return id;
}

void ConsoleBroker::Unsubscribe(SubscriptionId id) {
  auto it = impl_->subscribers.find(id);
  if (it == impl_->subscribers.end()) return;
  // A delivery round in progress may still hold it (and be running it).
  it->second->active = false;
  impl_->subscribers.erase(it);
}

bool ConsoleBroker::Write(std::string bytes) {
  Impl& d = *impl_;
  if (d.stopped) return false;
  if (bytes.empty()) return true;
  if (d.input_bytes + bytes.size() > d.options.max_pending_input) {
    d.dropped_input += bytes.size();
    if (!d.dropping_logged) {
      d.options.log("console input queue full (" +
                    std::to_string(d.options.max_pending_input / 1024) +
                    " KiB not yet taken by QEMU): dropping input");
      d.dropping_logged = true;
    }
    return false;
  }
  d.input_bytes += bytes.size();
  d.input.push_back(std::move(bytes));
  d.WriteMore();
  return true;
}

void ConsoleBroker::Stop() { impl_->Shutdown(true); }

bool ConsoleBroker::connected() const { return impl_->connected; }
bool ConsoleBroker::stopped() const { return impl_->stopped; }
size_t ConsoleBroker::subscriber_count() const { return impl_->subscribers.size(); }
uint64_t ConsoleBroker::dropped_input_bytes() const { return impl_->dropped_input; }
const std::string& ConsoleBroker::console_log() const { return impl_->log_path; }

std::string ConsoleBroker::Scrollback(size_t tail_lines) const {
  return ReadScrollback(impl_->log_path, tail_lines);
}

}  // namespace kumo::console
