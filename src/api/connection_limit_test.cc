// ConnectionLimit and AcceptBackoff: the cap's bookkeeping and the accept
// loop's back-off, as tables of steps (no sockets, time passed in).
#include "api/connection_limit.h"

#include <gtest/gtest.h>

namespace kumo::api {
namespace {

using Admission = ConnectionLimit::Admission;
using namespace std::chrono_literals;

TEST(ConnectionLimit, AdmitsUnderTheCapThenEvictsTheLongestIdleThenRefuses) {
  ConnectionLimit limit(3);
  auto t0 = ConnectionLimit::Clock::time_point{};
  EXPECT_EQ(limit.Decide(), Admission::kAdmit);
  uint64_t a = limit.Open(), b = limit.Open(), c = limit.Open();
  EXPECT_EQ(limit.open(), 3u);
  EXPECT_EQ(limit.Decide(), Admission::kRefuse);  // all busy

  limit.SetIdle(b, t0 + 2s);
  limit.SetIdle(a, t0 + 5s);
  EXPECT_EQ(limit.Decide(), Admission::kEvictIdle);
  EXPECT_EQ(limit.OldestIdle(), b);

  limit.SetIdle(b, t0 + 9s);  // b took a request and went idle again, later than a
  EXPECT_EQ(limit.OldestIdle(), a);
  limit.SetBusy(a);
  EXPECT_EQ(limit.OldestIdle(), b);

  limit.Close(b);
  EXPECT_EQ(limit.idle(), 0u);
  EXPECT_EQ(limit.OldestIdle(), std::nullopt);
  EXPECT_EQ(limit.Decide(), Admission::kAdmit);

  limit.Close(b);  // twice, or an unknown id: no effect
  limit.Close(12345);
  limit.SetIdle(12345, t0);
  EXPECT_EQ(limit.open(), 2u);
  EXPECT_EQ(limit.idle(), 0u);
  limit.Close(a);
  limit.Close(c);
  EXPECT_EQ(limit.open(), 0u);
}

TEST(ConnectionLimit, IdleConnectionsGetTheShortTimeoutAbove80PercentOfTheCap) {
  ConnectionLimit limit(10);
  std::vector<uint64_t> ids;
  for (int i = 0; i < 8; ++i) ids.push_back(limit.Open());
  EXPECT_FALSE(limit.NearCap());  // 8 of 10: exactly 80%
  EXPECT_EQ(limit.IdleTimeout(), ConnectionLimit::kIdleTimeout);
  ids.push_back(limit.Open());
  EXPECT_TRUE(limit.NearCap());
  EXPECT_EQ(limit.IdleTimeout(), ConnectionLimit::kShortIdleTimeout);
  EXPECT_LT(ConnectionLimit::kShortIdleTimeout, ConnectionLimit::kIdleTimeout);
  limit.Close(ids.back());
  EXPECT_FALSE(limit.NearCap());
}

TEST(ConnectionLimit, ACapOfZeroIsOne) {
  ConnectionLimit limit(0);
  EXPECT_EQ(limit.cap(), 1u);
  limit.Open();
  EXPECT_EQ(limit.Decide(), Admission::kRefuse);
}

TEST(ConnectionLimit, DefaultLeavesHalfOfTheSpareDescriptorsToTheServers) {
  struct Case {
    uint64_t open_files;
    size_t cap;
  } cases[] = {
      {0, 16}, {64, 16}, {100, 18}, {256, 96}, {1024, 480}, {8256, 4096}, {1048576, 4096},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(DefaultMaxConnections(c.open_files), c.cap) << c.open_files;
  }
}

TEST(AcceptBackoff, DoublesFrom50msTo1sLogsOncePerEpisodeAndResetsOnSuccess) {
  AcceptBackoff backoff;
  EXPECT_EQ(backoff.Succeeded(), 0);
  std::vector<int64_t> delays;
  std::vector<bool> firsts;
  for (int i = 0; i < 8; ++i) {
    auto step = backoff.Failed();
    delays.push_back(step.delay.count());
    firsts.push_back(step.first_in_episode);
  }
  EXPECT_EQ(delays, (std::vector<int64_t>{50, 100, 200, 400, 800, 1000, 1000, 1000}));
  EXPECT_EQ(firsts, (std::vector<bool>{true, false, false, false, false, false, false, false}));
  EXPECT_EQ(backoff.Succeeded(), 8);
  EXPECT_EQ(backoff.Succeeded(), 0);
  auto again = backoff.Failed();
  EXPECT_EQ(again.delay, 50ms);
  EXPECT_TRUE(again.first_in_episode);
}

}  // namespace
}  // namespace kumo::api
