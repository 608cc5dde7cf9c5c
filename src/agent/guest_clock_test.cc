#include "agent/guest_clock.h"

#include <gtest/gtest.h>

namespace kumo::agent {
namespace {

TEST(Timezone, ReportsAbbreviationAndOffset) {
  tm local{};
  local.tm_gmtoff = 9 * 3600;
  local.tm_zone = "JST";
  EXPECT_EQ(TimezoneOf(local), nlohmann::json({{"zone", "JST"}, {"offset", 32400}}));
  local.tm_zone = "";
  local.tm_gmtoff = -3600;
  EXPECT_EQ(TimezoneOf(local), nlohmann::json({{"offset", -3600}}));
}

TEST(SetTime, RefusesTimesBeforeTheEpoch) {
  std::string err;
  EXPECT_TRUE(ValidSetTime(0, &err));
  EXPECT_TRUE(ValidSetTime(1'700'000'000'000'000'000, &err));
  EXPECT_FALSE(ValidSetTime(-1, &err));
  EXPECT_EQ(err, "Invalid time");
  EXPECT_TRUE(ValidSetTime(INT64_MAX, &err));
}

TEST(SetTime, RtcReadingIsUtc) {
  tm rtc{};
  rtc.tm_year = 2026 - 1900;
  rtc.tm_mon = 0;
  rtc.tm_mday = 2;
  rtc.tm_hour = 3;
  EXPECT_EQ(RtcSeconds(rtc), 1767322800);
  rtc.tm_mon = 12;
  EXPECT_EQ(RtcSeconds(rtc), std::nullopt);
}

}  // namespace
}  // namespace kumo::agent
