// ConsoleRateBudget on simulated time: the caller passes every instant.
#include "console/console_rate_budget.h"

#include <gtest/gtest.h>

namespace kumo::console {
namespace {

using std::chrono::milliseconds;
using TimePoint = ConsoleRateBudget::TimePoint;

TEST(ConsoleRateBudget, StartsFullAndRefillsAtTheRateUpToTheBurst) {
  TimePoint t0{};
  ConsoleRateBudget b(1000, 4000, t0);
  EXPECT_EQ(b.Available(t0), 4000u);
  EXPECT_TRUE(b.Full(t0));
  b.Spend(4000, t0);
  EXPECT_EQ(b.Available(t0), 0u);
  EXPECT_FALSE(b.Full(t0));
  EXPECT_EQ(b.Available(t0 + milliseconds(250)), 250u);
  EXPECT_EQ(b.Available(t0 + milliseconds(1000)), 1000u);
  EXPECT_EQ(b.Available(t0 + milliseconds(60000)), 4000u) << "never more than the burst";
  EXPECT_TRUE(b.Full(t0 + milliseconds(60000)));
}

TEST(ConsoleRateBudget, OverspendingIsADebtPaidFirst) {
  TimePoint t0{};
  ConsoleRateBudget b(1000, 1000, t0);
  b.Spend(3000, t0);  // a read may return more than was available
  EXPECT_EQ(b.TimeUntil(500, t0), milliseconds(2500));
  EXPECT_EQ(b.Available(t0 + milliseconds(1999)), 0u);
  EXPECT_EQ(b.Available(t0 + milliseconds(2500)), 500u);
}

TEST(ConsoleRateBudget, TimeUntilIsRoundedUpAndCappedAtTheBurst) {
  TimePoint t0{};
  ConsoleRateBudget b(3000, 3000, t0);
  EXPECT_EQ(b.TimeUntil(10, t0), milliseconds(0));
  b.Spend(3000, t0);
  EXPECT_EQ(b.TimeUntil(1, t0), milliseconds(1));  // 1/3 ms, rounded up
  EXPECT_EQ(b.TimeUntil(1000000, t0), milliseconds(1000)) << "capped: the burst is all there is";
}

TEST(ConsoleRateBudget, AverageOverALongFloodIsTheRate) {
  // A guest that always has output, read whenever the budget allows a
  // quarter second's worth: over a minute, burst + rate * 60 bytes.
  TimePoint t0{}, t = t0;
  ConsoleRateBudget b(16 * 1024, 128 * 1024, t0);
  uint64_t read = 0;
  while (t < t0 + milliseconds(60000)) {
    uint64_t n = b.Available(t);
    if (n >= 4096) {
      b.Spend(n, t);
      read += n;
    }
    t += b.TimeUntil(4096, t) + milliseconds(1);
  }
  EXPECT_GE(read, 128u * 1024 + 16 * 1024 * 59);
  EXPECT_LE(read, 128u * 1024 + 16 * 1024 * 60);
}

TEST(ConsoleRateBudget, RateZeroMeansNoLimit) {
  TimePoint t0{};
  ConsoleRateBudget b(0, 65536, t0);
  b.Spend(1 << 30, t0);
  EXPECT_EQ(b.Available(t0), 65536u);
  EXPECT_EQ(b.TimeUntil(65536, t0), milliseconds(0));
}

TEST(ConsoleRateBudget, TimeGoingBackwardsChangesNothing) {
  TimePoint t0 = TimePoint{} + milliseconds(5000);
  ConsoleRateBudget b(1000, 1000, t0);
  b.Spend(1000, t0);
  EXPECT_EQ(b.Available(t0 - milliseconds(4000)), 0u);
  EXPECT_EQ(b.Available(t0 + milliseconds(100)), 100u);
}

}  // namespace
}  // namespace kumo::console
