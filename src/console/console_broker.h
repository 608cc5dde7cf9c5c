// ConsoleBroker: kumod's side of one server's serial console. QEMU serves the
// guest's ttyS0 through a pipe chardev: it writes the guest's output to one
// FIFO and reads the guest's input from another (ConsoleFifos; MachinePaths::
// console_output_fifo and console_input_fifo). The broker is their one reader
// and writer, and shares them: everything the guest prints goes to every
// subscriber (the web panel's and the CLI's WebSocket connections), and input
// from any of them goes to the guest.
//
// Why FIFOs and not a unix socket: QEMU writes a UART's output a byte per
// write. A socket holds ~280 one-byte writes; then QEMU holds the UART back,
// and the guest kernel's console gives up waiting after 10 ms and overwrites
// characters, so a reader late by a few milliseconds lost text. A pipe holds
// its size in bytes, and the broker grows the output pipe to `pipe_bytes`
// (1 MiB): kumod may be seconds late without the guest noticing.
//
// The broker keeps QEMU's console.log (console_log.h) bounded by rotating it
// as output arrives; the scrollback itself is read from disk with
// ReadScrollback, which needs no broker.
//
// What one guest's console may cost kumod is bounded: output is read in
// batches (after a read, the next waits `coalesce`, with the FIFO out of the
// event loop meanwhile, so a flood arrives in a few hundred chunks a second
// rather than tens of thousands of tiny wake-ups), and at most
// `rate_bytes_per_sec` on average (ConsoleRateBudget, with a `burst_bytes`
// allowance). Past that the broker stops reading for a while; the pipe fills
// and QEMU then holds back the guest's UART, the way a real serial line slows
// a writer. Viewers see everything read, input still goes through, and
// `on_throttled` hears of each flood episode once.
//
// Writing to the input FIFO after QEMU has gone raises SIGPIPE: the process
// must ignore it (kumod does). Runs on kumod's event loop; not thread-safe. Callbacks are invoked on the
// loop, never from inside Subscribe, and never after Stop() has returned or
// the broker is destroyed.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/asio.h"
#include "console/console_log.h"

namespace kumo::console {

// A real 115200-baud serial line carries 11.25 KiB/s; a boot log is ~50 KiB.
inline constexpr uint64_t kConsoleRateBytesPerSec = 16 * 1024;
inline constexpr uint64_t kConsoleBurstBytes = 128 * 1024;
// The output FIFO's size: what the guest may print while kumod is not reading.
inline constexpr size_t kConsolePipeBytes = 1024 * 1024;

// The two FIFOs of QEMU's pipe chardev, which QEMU holds open read-write.
struct ConsoleFifos {
  std::string output;  // the guest's output: the broker reads it
  std::string input;   // the guest's input: the broker writes it
};

class ConsoleBroker {
 public:
  using SubscriptionId = uint64_t;
  static constexpr SubscriptionId kNoSubscription = 0;
  using OutputHandler = std::function<void(std::string_view bytes)>;
  using StopHandler = std::function<void()>;

  struct Options {
    // How often FIFOs that are missing, or that no QEMU holds, are tried again.
    std::chrono::milliseconds retry_interval{200};
    // Input not yet written to QEMU, at most; more is dropped (and logged).
    size_t max_pending_input = 64 * 1024;
    // console.log is rotated past this size (console_log.h).
    uint64_t rotate_bytes = kConsoleLogRotateBytes;
    // The next read waits this long after one that did not fill the buffer
    // (the pipe holds what arrives meanwhile).
    std::chrono::milliseconds coalesce{5};
    // The output FIFO is grown to this (F_SETPIPE_SZ; if the kernel refuses,
    // it stays as it is, with a log line).
    size_t pipe_bytes = kConsolePipeBytes;
    // Output read, on average (0: no limit), and at most at once.
    uint64_t rate_bytes_per_sec = kConsoleRateBytesPerSec;
    uint64_t burst_bytes = kConsoleBurstBytes;
    // Called once per flood episode (the budget ran out; the episode ends
    // when the whole burst has come back), with a line for the timeline.
    std::function<void(const std::string& message)> on_throttled;
    // Where the broker reports trouble; default: "kumod: console NAME: ..." on stderr.
    std::function<void(const std::string&)> log;
  };

  // `name` names the server in log lines.
  ConsoleBroker(boost::asio::io_context& io, std::string name);
  ConsoleBroker(boost::asio::io_context& io, std::string name, Options options);
  // Stops without calling the stop handlers.
  ~ConsoleBroker();
  ConsoleBroker(const ConsoleBroker&) = delete;
  ConsoleBroker& operator=(const ConsoleBroker&) = delete;

  // Opens QEMU's console FIFOs, trying again every retry_interval while they
  // do not exist yet or no QEMU holds them, and again whenever QEMU closes
  // them, until Stop(). Anything at those paths that is not a FIFO (or is a
  // symlink) is refused, never read or written. Rotates console_log when it
  // is too big (now, when the output read since passes the limit, and on
  // every retry).
  // REQUIRES: called once, before Stop().
  void Start(const ConsoleFifos& fifos, const std::string& console_log);

  // `on_output` receives the guest's output from now on, in order, in
  // chunks as read (one chunk is delivered to every subscriber, in
  // subscription order, before the next). `on_stop` (may be empty) is called
  // once, from inside Stop(). Returns kNoSubscription, calling nothing, if
  // the broker is stopped.
  SubscriptionId Subscribe(OutputHandler on_output, StopHandler on_stop = nullptr);
  // No more calls for `id` once this returns; unknown ids are ignored. May be
  // called from inside a callback.
  void Unsubscribe(SubscriptionId id);

  // Queues input for the guest (written as soon as the FIFOs are open).
  // False, with a log line, if it would overflow max_pending_input (the
  // bytes are dropped) or the broker is stopped.
  bool Write(std::string bytes);

  // Disconnects for good; each subscriber's on_stop is called (in
  // subscription order) before it returns, then nothing more. Idempotent.
  // May be called from inside a callback.
  void Stop();

  bool connected() const;
  bool stopped() const;
  size_t subscriber_count() const;
  uint64_t dropped_input_bytes() const;
  uint64_t output_bytes() const;  // read from QEMU since Start
  uint64_t reads() const;         // reads that returned output
  uint64_t throttle_episodes() const;
  bool throttled() const;            // in a flood episode now
  uint64_t log_file_checks() const;  // ConsoleLogRotator::file_checks
  const std::string& console_log() const;
  // ReadScrollback(console_log(), tail_lines).
  std::string Scrollback(size_t tail_lines = 0) const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // shared with pending I/O handlers
};

}  // namespace kumo::console
