// SimulatedClock: a Clock whose time moves only when a test says so. Alarms
// fire from Advance(), in the order they fall due, each with NowMs() reading
// its due time; an alarm set by a firing callback fires in the same Advance
// if it falls due within it. Event-loop work (FakeDriver events, posted
// callbacks) is run between alarms through the `io` given.
#pragma once

#include <map>
#include <memory>
#include <utility>

#include "common/clock.h"

namespace kumo::testing {

class SimulatedClock : public Clock {
 public:
  // Starts at `start_ms` (a fixed, realistic wall-clock time by default).
  explicit SimulatedClock(boost::asio::io_context& io, int64_t start_ms = 1'790'000'000'000);

  int64_t NowMs() const override { return now_ms_; }
  std::unique_ptr<Alarm> After(std::chrono::milliseconds delay, std::function<void()> fn) override;

  // Moves time forward by `by`, firing every alarm that falls due and
  // running the event loop's ready work after each.
  void Advance(std::chrono::milliseconds by);
  // Runs ready event-loop work, then advances in `step`s until `pred` holds
  // or `limit` of simulated time has passed. True if `pred` held.
  bool RunUntil(const std::function<bool()>& pred, std::chrono::milliseconds limit,
                std::chrono::milliseconds step = std::chrono::milliseconds(10));
  // The smallest move of a simulated kumod, for tests that stop it between
  // any two: runs one ready event-loop handler; or, with none ready, moves
  // time to the next alarm due within `horizon` and fires it. False when
  // neither happened (time then moved by `horizon`).
  bool Step(std::chrono::milliseconds horizon);
  size_t pending_alarms() const { return alarms_.size(); }

 private:
  class SimAlarm;
  void Poll();

  boost::asio::io_context& io_;
  int64_t now_ms_;
  uint64_t next_seq_ = 0;
  // (due, seq) → callback; an Alarm erases its entry when destroyed.
  std::map<std::pair<int64_t, uint64_t>, std::function<void()>> alarms_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace kumo::testing
