// ConsoleRateBudget: how much of a guest's serial output kumod reads, as a
// token bucket — `rate` bytes a second on average, up to `burst` bytes at
// once (a whole boot log fits in the burst, so a normal boot never waits).
// What the budget does not allow stays unread in QEMU's socket, and QEMU's
// chardev then holds back the guest's UART, as a real serial line would.
//
// Pure: the caller passes the time, so tests run on simulated time.
#pragma once

#include <chrono>
#include <cstdint>

namespace kumo::console {

class ConsoleRateBudget {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // Starts full. rate == 0: no limit (Available is always `burst`).
  // REQUIRES: burst > 0.
  ConsoleRateBudget(uint64_t rate, uint64_t burst, TimePoint now);

  // Bytes that may be read at `now` (0 to `burst`).
  uint64_t Available(TimePoint now);
  // Records `n` bytes read at `now`; more than Available leaves a debt that
  // is paid back before anything is available again.
  void Spend(uint64_t n, TimePoint now);
  // How long from `now` until `want` bytes are available (zero if they are);
  // `want` is capped at `burst`. Rounded up to whole milliseconds.
  std::chrono::milliseconds TimeUntil(uint64_t want, TimePoint now);
  // Whether the bucket is full: the output stayed under the rate long enough
  // for the whole burst to come back.
  bool Full(TimePoint now) { return Available(now) == burst_; }

  uint64_t rate() const { return rate_; }
  uint64_t burst() const { return burst_; }

 private:
  void Refill(TimePoint now);

  uint64_t rate_;
  uint64_t burst_;
  // Tokens in millionths of a byte (exact for any rate), negative in debt.
  int64_t micro_tokens_;
  TimePoint last_;
};

}  // namespace kumo::console
