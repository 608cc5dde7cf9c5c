#include "agent/guest_stats.h"

#include <gtest/gtest.h>

namespace kumo::agent {
namespace {

TEST(CpuStatsLine, PerCpuTimesInMilliseconds) {
  EXPECT_EQ(CpuStatsLine("cpu  6227668 161604 1538143 2073466 44403 0 34148 0 0 0", 10),
            std::nullopt);
  EXPECT_EQ(CpuStatsLine("cpu1 3181639 69457 799871 933576 34081 0 20535 0 0 0", 10),
            nlohmann::json::parse(R"({"type": "linux", "cpu": 1, "user": 31816390,
                "nice": 694570, "system": 7998710, "idle": 9335760, "iowait": 340810, "irq": 0,
                "softirq": 205350, "steal": 0, "guest": 0, "guestnice": 0})"));
  // Old kernels have only four times.
  EXPECT_EQ(CpuStatsLine("cpu0 1 2 3 4", 10)->size(), 6u);
  for (const char* bad : {"cpu0 1 2 3", "cpux 1 2 3 4", "intr 1 2 3 4", "cpu0", "cpu01a 1 2 3 4"}) {
    EXPECT_EQ(CpuStatsLine(bad, 10), std::nullopt) << bad;
  }
}

TEST(DiskStatsLine, CountersByQemuGaName) {
  auto vda = DiskStatsLine(" 254       0 vda 10 1 300 4 20 2 600 8 0 12 16 3 0 24 5 7 9");
  ASSERT_TRUE(vda);
  EXPECT_EQ((*vda)["name"], "vda");
  EXPECT_EQ((*vda)["major"], 254);
  EXPECT_EQ((*vda)["minor"], 0);
  EXPECT_EQ((*vda)["stats"].size(), 17u);
  EXPECT_EQ((*vda)["stats"]["read-sectors"], 300);
  EXPECT_EQ((*vda)["stats"]["discard-sectors"], 24);
  EXPECT_EQ((*vda)["stats"]["flush-ticks"], 9);
  auto old = DiskStatsLine("   8    1 sda1 5 6 7 8");
  ASSERT_TRUE(old);
  EXPECT_EQ((*old)["stats"], nlohmann::json::parse(R"({"read-ios": 5, "read-sectors": 6,
      "write-ios": 7, "write-sectors": 8})"));
  for (const char* bad : {"", "x y vda 1 2 3 4", "8 0 sda 1 2 3 4 5 6"}) {
    EXPECT_EQ(DiskStatsLine(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace kumo::agent
