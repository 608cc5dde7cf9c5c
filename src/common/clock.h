// Clock: kumod's sense of time, injectable so that the core's tests run on
// simulated time (tests/support/simulated_clock.h) instead of real timers,
// like leveldb's Env::NowMicros. NowMs is wall-clock time (what the store
// and the API show); After runs a callback on the event loop later.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/asio.h"

namespace kumo {

// A pending callback; destroying it cancels the callback if it has not run.
class Alarm {
 public:
  virtual ~Alarm() = default;
};

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the epoch.
  virtual int64_t NowMs() const = 0;
  // Calls `fn` once `delay` has passed, from the event loop (never inline),
  // unless the returned Alarm is destroyed first.
  [[nodiscard]] virtual std::unique_ptr<Alarm> After(std::chrono::milliseconds delay,
                                                     std::function<void()> fn) = 0;
};

// Real time: the system clock and steady_timers on `io`.
std::unique_ptr<Clock> MakeSystemClock(boost::asio::io_context& io);

}  // namespace kumo

namespace kumo {
// "2026-12-01 15:02:30 UTC", for messages people read.
std::string FormatUtc(int64_t ms_since_epoch);
}  // namespace kumo
