#include "common/clock.h"

#include <time.h>

namespace kumo {
namespace {

class TimerAlarm : public Alarm {
 public:
  TimerAlarm(boost::asio::io_context& io, std::chrono::milliseconds delay, std::function<void()> fn)
      : timer_(io, delay) {
    timer_.async_wait([fn = std::move(fn)](boost::system::error_code ec) {
      if (!ec) fn();
    });
  }
  ~TimerAlarm() override { timer_.cancel(); }

 private:
  boost::asio::steady_timer timer_;
};

class SystemClock : public Clock {
 public:
  explicit SystemClock(boost::asio::io_context& io) : io_(io) {}
  int64_t NowMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  std::unique_ptr<Alarm> After(std::chrono::milliseconds delay, std::function<void()> fn) override {
    return std::make_unique<TimerAlarm>(io_, delay, std::move(fn));
  }

 private:
  boost::asio::io_context& io_;
};

}  // namespace

std::unique_ptr<Clock> MakeSystemClock(boost::asio::io_context& io) {
  return std::make_unique<SystemClock>(io);
}

}  // namespace kumo

namespace kumo {
std::string FormatUtc(int64_t ms) {
  time_t t = static_cast<time_t>(ms / 1000);
  tm tm_utc{};
  gmtime_r(&t, &tm_utc);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm_utc);
  return buf;
}
}  // namespace kumo
