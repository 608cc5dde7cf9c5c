#include "console/console_broker.h"

#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <iostream>
#include <map>
#include <span>
#include <vector>

#include "common/loop_read_buffer.h"
#include "console/console_rate_budget.h"

namespace kumo::console {

namespace asio = boost::asio;
using Descriptor = asio::posix::stream_descriptor;
using SteadyClock = std::chrono::steady_clock;

// One read takes at most the loop's shared buffer (loop_read_buffer.h:
// 64 KiB, a budget's worth of a few seconds). A broker holds no buffer of its
// own: it waits until the FIFO is readable, then reads into that one.
constexpr size_t kReadBufferBytes = kLoopReadBufferBytes;

// One end of a console FIFO, non-blocking: `flags` is O_RDONLY or O_WRONLY.
// The run directory may belong to QEMU's user, so a symlink or anything but
// a FIFO there is refused before a byte is read or written. Opening the
// write end fails with ENXIO while no QEMU holds the FIFO.
Result<int> OpenFifo(const std::string& path, int flags) {
  int fd = open(path.c_str(), flags | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENXIO) return Status(codes::kHypervisorError, path + ": no QEMU holds it open");
    return Status(codes::kHypervisorError, path + ": " + strerror(errno));
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode)) {
    close(fd);
    return Status(codes::kHypervisorError, path + " is not a FIFO: refused");
  }
  return fd;
}

struct ConsoleBroker::Impl : std::enable_shared_from_this<Impl> {
  struct Subscriber {
    OutputHandler on_output;
    StopHandler on_stop;
    bool active = true;  // false once unsubscribed or stopped
  };

  Impl(asio::io_context& io, std::string name, Options options)
      : io(io),
        name(std::move(name)),
        options(std::move(options)),
        output(io),
        input_fifo(io),
        retry_timer(io),
        read_timer(io),
        budget(this->options.rate_bytes_per_sec, this->options.burst_bytes, SteadyClock::now()) {
    if (!this->options.log) {
      this->options.log = [n = this->name](const std::string& line) {
        std::cerr << "kumod: console " << n << ": " << line << std::endl;
      };
    }
  }

  void Connect();
  void ScheduleRetry();
  void ReadMore();
  void ReadLater(std::chrono::milliseconds delay);
  void OnReadable(uint64_t gen, size_t asked, bool budget_bound,
                  const boost::system::error_code& ec);
  size_t BytesWaiting();  // unread in the output FIFO
  void Throttled();
  void Park();
  void Unpark();
  void GrowPipe(int fd);
  void CloseFifos();
  void Deliver(std::string_view bytes);
  void WriteMore();
  void Disconnected(const std::string& why);
  void CheckRotation();
  void NoteRotation(const Status& s);
  void Shutdown(bool notify);

  asio::io_context& io;
  const std::string name;
  Options options;
  ConsoleFifos fifos;
  std::string log_path;
  Descriptor output;      // the output FIFO's read end, while connected and not parked
  Descriptor input_fifo;  // the input FIFO's write end, while connected
  asio::steady_timer retry_timer;
  asio::steady_timer read_timer;  // coalescing and throttle pauses
  ConsoleRateBudget budget;
  std::unique_ptr<ConsoleLogRotator> rotator;

  bool started = false;
  bool stopped = false;
  bool connected = false;  // both FIFOs are open
  bool writing = false;
  bool reading = false;  // a read is pending
  // While no read is pending, the output FIFO is taken out of the event loop
  // (released; this is its descriptor): QEMU's every small write would
  // otherwise wake the loop even though nothing reads it yet.
  int parked_fd = -1;
  bool ever_connected = false;
  bool waiting_logged = false;    // "waiting for the FIFOs", once per outage
  bool pipe_size_logged = false;  // "the pipe stays at", once
  bool dropping_logged = false;   // "input dropped", once until the queue drains
  bool rotation_error_logged = false;
  bool throttled = false;  // in a flood episode
  // Bumped on every (re)connect, disconnect and stop: handlers of an older
  // connection see a different value and do nothing.
  uint64_t generation = 0;

  std::map<SubscriptionId, std::shared_ptr<Subscriber>> subscribers;
  SubscriptionId next_id = 1;
  std::deque<std::string> input;
  size_t input_bytes = 0;
  uint64_t dropped_input = 0;
  uint64_t output_bytes = 0;
  uint64_t reads = 0;
  uint64_t throttle_episodes = 0;
};

void ConsoleBroker::Impl::Connect() {
  if (stopped) return;
  CloseFifos();
  ++generation;
  // Opening a FIFO non-blocking never waits, so this is done at once.
  Result<int> out = OpenFifo(fifos.output, O_RDONLY);
  Result<int> in = out.ok() ? OpenFifo(fifos.input, O_WRONLY) : Result<int>(out.status());
  if (!in.ok()) {
    if (out.ok()) close(*out);
    if (!waiting_logged) {
      options.log("waiting for QEMU's console FIFOs (" + in.status().message() +
                  "); trying every " + std::to_string(options.retry_interval.count()) + " ms");
      waiting_logged = true;
    }
    return ScheduleRetry();
  }
  GrowPipe(*out);
  boost::system::error_code out_ec, in_ec;
  output.assign(*out, out_ec);
  if (out_ec) close(*out);
  input_fifo.assign(*in, in_ec);
  if (in_ec) close(*in);
  if (out_ec || in_ec) {  // the event loop refused them: try again later
    CloseFifos();
    options.log("cannot watch the console FIFOs: " + (out_ec ? out_ec : in_ec).message());
    return ScheduleRetry();
  }
  if (ever_connected || waiting_logged) options.log("opened " + fifos.output);
  connected = true;
  ever_connected = true;
  waiting_logged = false;
  ReadMore();
  WriteMore();
}

void ConsoleBroker::Impl::GrowPipe(int fd) {
  int size = fcntl(fd, F_GETPIPE_SZ);
  if (size < 0 || static_cast<size_t>(size) >= options.pipe_bytes) return;
  if (fcntl(fd, F_SETPIPE_SZ, static_cast<int>(options.pipe_bytes)) >= 0) return;
  if (!pipe_size_logged) {
    options.log("the console pipe stays at " + std::to_string(size / 1024) + " KiB (" +
                strerror(errno) + "): a guest printing while kumod is busy may lose text");
    pipe_size_logged = true;
  }
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
  if (stopped || !connected) return;
  auto now = SteadyClock::now();
  uint64_t allowed = budget.Available(now);
  // A throttled flood is read in slices of a quarter second's budget (at
  // most half the burst, so the bucket is never full again while the flood
  // lasts: a full bucket at a read ends the episode), not a trickle.
  uint64_t slice =
      std::clamp<uint64_t>(budget.rate() / 4, 1, std::max<uint64_t>(1, budget.burst() / 2));
  if (allowed < slice && !budget.Full(now) && (allowed == 0 || throttled)) {
    return ReadLater(budget.TimeUntil(slice, now));
  }
  size_t asked = static_cast<size_t>(std::min<uint64_t>(kReadBufferBytes, allowed));
  bool budget_bound = asked < kReadBufferBytes;
  Unpark();
  reading = true;
  uint64_t gen = generation;
  output.async_wait(Descriptor::wait_read, [self = shared_from_this(), gen, asked,
                                            budget_bound](const boost::system::error_code& ec) {
    self->OnReadable(gen, asked, budget_bound, ec);
  });
}

void ConsoleBroker::Impl::ReadLater(std::chrono::milliseconds delay) {
  if (delay.count() <= 0) return ReadMore();
  Park();
  uint64_t gen = generation;
  read_timer.expires_after(delay);
  read_timer.async_wait([self = shared_from_this(), gen](const boost::system::error_code& ec) {
    if (ec || self->stopped || gen != self->generation) return;
    self->ReadMore();
  });
}

void ConsoleBroker::Impl::Park() {
  if (parked_fd >= 0 || reading || !connected) return;
  parked_fd = output.release();
}

void ConsoleBroker::Impl::Unpark() {
  if (parked_fd < 0) return;
  boost::system::error_code ec;
  output.assign(parked_fd, ec);
  if (ec) close(parked_fd);  // the next read fails and the FIFOs are opened again
  parked_fd = -1;
}

void ConsoleBroker::Impl::CloseFifos() {
  reading = false;
  if (parked_fd >= 0) close(parked_fd);
  parked_fd = -1;
  boost::system::error_code ignored;
  output.close(ignored);
  input_fifo.close(ignored);
}

void ConsoleBroker::Impl::Throttled() {
  if (throttled) return;
  throttled = true;
  ++throttle_episodes;
  std::string rate = std::to_string(budget.rate() / 1024) + " KiB/s";
  options.log("console output throttled to " + rate + " (the guest writes faster)");
  if (options.on_throttled) {
    options.on_throttled(
        "console output throttled: the guest writes more than " + rate +
        " to its serial console; kumod reads it at that pace, and once 1 MiB waits "
        "unread the guest's writes to the console wait");
  }
}

void ConsoleBroker::Impl::OnReadable(uint64_t gen, size_t asked, bool budget_bound,
                                     const boost::system::error_code& ec) {
  if (stopped || gen != generation) return;
  reading = false;
  if (ec) return Disconnected(ec.message());
  std::span<char> buffer = LoopReadBuffer();
  ssize_t got = read(output.native_handle(), buffer.data(), asked);
  if (got < 0 && (errno == EAGAIN || errno == EINTR)) return ReadMore();  // woken for nothing
  if (got <= 0) return Disconnected(got == 0 ? "QEMU closed them" : strerror(errno));
  size_t n = static_cast<size_t>(got);
  ++reads;
  output_bytes += n;
  auto now = SteadyClock::now();
  // A quiet spell ends the episode: the whole burst came back and this read
  // emptied the pipe. (A full bucket alone may only mean that kumod itself
  // was held up while the flood went on.)
  if (throttled && n < asked && budget.Full(now)) {
    throttled = false;
    options.log("console output back under " + std::to_string(budget.rate() / 1024) +
                " KiB/s: no longer throttled");
  }
  budget.Spend(n, now);
  // A flood is output the budget left unread: this read took all it allowed
  // and more waits. (Asking whether the budget reached zero instead depends
  // on how soon the next read comes: a loop held up for a few microseconds
  // finds a few bytes' worth again and would never call it a flood.)
  if (n == asked && budget_bound && !throttled && BytesWaiting() > 0) Throttled();
  if (stopped || gen != generation) return;  // the note's listener may have stopped us
  Deliver(std::string_view(buffer.data(), n));
  if (stopped || gen != generation) return;
  if (rotator) {
    Status s = rotator->Appended(n);
    NoteRotation(s);
  }
  // A full read means more is waiting: read on. Otherwise let output
  // gather for a moment, so a flood costs a few reads a second.
  if (n == asked) return ReadMore();
  ReadLater(options.coalesce);
}

size_t ConsoleBroker::Impl::BytesWaiting() {
  int waiting = 0;
  if (ioctl(output.native_handle(), FIONREAD, &waiting) != 0) return 0;
  return static_cast<size_t>(std::max(waiting, 0));
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
  asio::async_write(input_fifo, asio::buffer(input.front()),
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
  options.log("lost QEMU's console FIFOs (" + why + "); opening them again");
  ++generation;
  connected = false;
  writing = false;  // the front of the input queue is sent again, whole
  CloseFifos();
  waiting_logged = true;  // just said so
  ScheduleRetry();
}

void ConsoleBroker::Impl::CheckRotation() {
  if (rotator) NoteRotation(rotator->Check());
}

void ConsoleBroker::Impl::NoteRotation(const Status& s) {
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
  CloseFifos();
  retry_timer.cancel();
  read_timer.cancel();
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

void ConsoleBroker::Start(const ConsoleFifos& fifos, const std::string& console_log) {
  if (impl_->started || impl_->stopped) return;
  impl_->started = true;
  impl_->fifos = fifos;
  impl_->log_path = console_log;
  if (!console_log.empty()) {
    impl_->rotator = std::make_unique<ConsoleLogRotator>(console_log, impl_->options.rotate_bytes);
  }
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
uint64_t ConsoleBroker::output_bytes() const { return impl_->output_bytes; }
uint64_t ConsoleBroker::reads() const { return impl_->reads; }
uint64_t ConsoleBroker::throttle_episodes() const { return impl_->throttle_episodes; }
bool ConsoleBroker::throttled() const { return impl_->throttled; }
uint64_t ConsoleBroker::log_file_checks() const {
  return impl_->rotator ? impl_->rotator->file_checks() : 0;
}
const std::string& ConsoleBroker::console_log() const { return impl_->log_path; }

std::string ConsoleBroker::Scrollback(size_t tail_lines) const {
  return ReadScrollback(impl_->log_path, tail_lines);
}

}  // namespace kumo::console
