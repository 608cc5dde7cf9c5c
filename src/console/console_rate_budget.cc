#include "console/console_rate_budget.h"

#include <algorithm>

namespace kumo::console {
namespace {
constexpr int64_t kMicro = 1000000;
}  // namespace

ConsoleRateBudget::ConsoleRateBudget(uint64_t rate, uint64_t burst, TimePoint now)
    : rate_(rate),
      burst_(std::max<uint64_t>(burst, 1)),
      micro_tokens_(static_cast<int64_t>(burst_) * kMicro),
      last_(now) {}

void ConsoleRateBudget::Refill(TimePoint now) {
  if (now <= last_) return;  // time never runs backwards here
  const int64_t full = static_cast<int64_t>(burst_) * kMicro;
  if (rate_ == 0) {
    micro_tokens_ = full;
  } else {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - last_).count();
    // rate bytes/s == rate micro-bytes/us; cap the elapsed time so the
    // product cannot overflow (a full refill never takes longer than this).
    int64_t cap = full / static_cast<int64_t>(rate_) + 1 +
                  (-std::min<int64_t>(micro_tokens_, 0)) / static_cast<int64_t>(rate_);
    micro_tokens_ =
        std::min(full, micro_tokens_ + std::min<int64_t>(us, cap) * static_cast<int64_t>(rate_));
  }
  last_ = now;
}

uint64_t ConsoleRateBudget::Available(TimePoint now) {
  Refill(now);
  return micro_tokens_ <= 0 ? 0 : static_cast<uint64_t>(micro_tokens_ / kMicro);
}

void ConsoleRateBudget::Spend(uint64_t n, TimePoint now) {
  Refill(now);
  if (rate_ == 0) return;
  micro_tokens_ -= static_cast<int64_t>(std::min<uint64_t>(n, uint64_t{1} << 40)) * kMicro;
}

std::chrono::milliseconds ConsoleRateBudget::TimeUntil(uint64_t want, TimePoint now) {
  Refill(now);
  want = std::min(want, burst_);
  int64_t missing = static_cast<int64_t>(want) * kMicro - micro_tokens_;
  if (missing <= 0 || rate_ == 0) return std::chrono::milliseconds(0);
  // missing micro-bytes / (rate micro-bytes per us) → us, rounded up to ms.
  int64_t us = (missing + static_cast<int64_t>(rate_) - 1) / static_cast<int64_t>(rate_);
  return std::chrono::milliseconds((us + 999) / 1000);
}

}  // namespace kumo::console
