#include "support/simulated_clock.h"

namespace kumo::testing {

class SimulatedClock::SimAlarm : public Alarm {
 public:
  SimAlarm(SimulatedClock* clock, std::pair<int64_t, uint64_t> key)
      : clock_(clock), alive_(clock->alive_), key_(key) {}
  ~SimAlarm() override {
    if (!alive_.expired()) clock_->alarms_.erase(key_);
  }

 private:
  SimulatedClock* clock_;
  std::weak_ptr<bool> alive_;
  std::pair<int64_t, uint64_t> key_;
};

SimulatedClock::SimulatedClock(boost::asio::io_context& io, int64_t start_ms)
    : io_(io), now_ms_(start_ms) {}

std::unique_ptr<Alarm> SimulatedClock::After(std::chrono::milliseconds delay,
                                             std::function<void()> fn) {
  std::pair<int64_t, uint64_t> key{now_ms_ + std::max<int64_t>(0, delay.count()), next_seq_++};
  alarms_.emplace(key, std::move(fn));
  return std::make_unique<SimAlarm>(this, key);
}

void SimulatedClock::Poll() {
  io_.restart();
  io_.poll();
}

void SimulatedClock::Advance(std::chrono::milliseconds by) {
  const int64_t end = now_ms_ + by.count();
  Poll();
  while (!alarms_.empty() && alarms_.begin()->first.first <= end) {
    auto it = alarms_.begin();
    now_ms_ = std::max(now_ms_, it->first.first);
    std::function<void()> fn = std::move(it->second);
    alarms_.erase(it);
    fn();
    Poll();
  }
  now_ms_ = end;
  Poll();
}

bool SimulatedClock::Step(std::chrono::milliseconds horizon) {
  io_.restart();
  if (io_.poll_one() > 0) return true;
  const int64_t end = now_ms_ + horizon.count();
  if (alarms_.empty() || alarms_.begin()->first.first > end) {
    now_ms_ = end;
    return false;
  }
  auto it = alarms_.begin();
  now_ms_ = std::max(now_ms_, it->first.first);
  std::function<void()> fn = std::move(it->second);
  alarms_.erase(it);
  fn();
  return true;
}

bool SimulatedClock::RunUntil(const std::function<bool()>& pred, std::chrono::milliseconds limit,
                              std::chrono::milliseconds step) {
  const int64_t end = now_ms_ + limit.count();
  Poll();
  while (!pred()) {
    if (now_ms_ >= end) return false;
    Advance(step);
  }
  return true;
}

}  // namespace kumo::testing
