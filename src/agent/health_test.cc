#include "agent/health.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace kumo::agent {
namespace {

TEST(ParseLoadavg, ReadsAveragesAndTasks) {
  auto load = ParseLoadavg("0.52 1.20 3.04 2/131 4242\n");
  ASSERT_TRUE(load.has_value());
  EXPECT_DOUBLE_EQ((*load)["1m"].get<double>(), 0.52);
  EXPECT_DOUBLE_EQ((*load)["15m"].get<double>(), 3.04);
  EXPECT_EQ((*load)["running"], 2);
  EXPECT_EQ((*load)["total"], 131);
}

TEST(ParseLoadavg, RejectsMalformed) {
  for (const char* bad : {"", "0.5 1.0", "a b c 1/2 3", "0.1 0.2 0.3 12 4"}) {
    EXPECT_FALSE(ParseLoadavg(bad).has_value()) << bad;
  }
}

TEST(ParseMeminfo, ReadsTotalAndAvailable) {
  auto mem = ParseMeminfo(
      "MemTotal:         500000 kB\nMemFree:          100 kB\nMemAvailable:     123456 kB\n");
  ASSERT_TRUE(mem.has_value());
  EXPECT_EQ((*mem)["total_kib"], 500000);
  EXPECT_EQ((*mem)["available_kib"], 123456);
  EXPECT_FALSE(ParseMeminfo("MemTotal: 5 kB\n").has_value());
}

TEST(ParsePressure, ReadsSomeAndFull) {
  auto psi = ParsePressure(
      "some avg10=1.50 avg60=0.20 avg300=0.00 total=12345\n"
      "full avg10=0.75 avg60=0.10 avg300=0.00 total=999\n");
  ASSERT_TRUE(psi.has_value());
  EXPECT_DOUBLE_EQ((*psi)["some"]["avg10"].get<double>(), 1.5);
  EXPECT_DOUBLE_EQ((*psi)["full"]["avg60"].get<double>(), 0.1);
  EXPECT_FALSE((*psi)["some"].contains("total"));
}

TEST(ParsePressure, CpuHasOnlySomeOnOlderKernels) {
  auto psi = ParsePressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
  ASSERT_TRUE(psi.has_value());
  EXPECT_FALSE(psi->contains("full"));
}

TEST(ParsePressure, RejectsMalformed) {
  for (const char* bad :
       {"", "some avg10=x avg60=0 avg300=0", "some avg10=1", "full avg10=1 avg60=1 avg300=1"}) {
    EXPECT_FALSE(ParsePressure(bad).has_value()) << bad;
  }
}

TEST(ParseUptime, ReadsSeconds) {
  EXPECT_DOUBLE_EQ(*ParseUptime("35.12 60.00\n"), 35.12);
  EXPECT_FALSE(ParseUptime("").has_value());
}

TEST(CollectHealth, ReportsThisMachine) {
  std::deque<OomKill> kills = {{2'000'000, 42, "victim", 1024}};
  json h = CollectHealth(kills);
  EXPECT_GT(h["uptime_s"].get<double>(), 0);
  EXPECT_GT(h["memory"]["total_kib"].get<int64_t>(), 0);
  EXPECT_GT(h["processes"].get<int64_t>(), 0);
  EXPECT_GT(h["root_fs"]["total_kib"].get<int64_t>(), 0);
  ASSERT_EQ(h["oom_kills"].size(), 1u);
  EXPECT_EQ(h["oom_kills"][0]["process"], "victim");
  EXPECT_DOUBLE_EQ(h["oom_kills"][0]["uptime_s"].get<double>(), 2.0);
}

// kumod's fake driver points the agent at a stand-in: the figures come from
// there, and only the processes listed there are scanned.
TEST(CollectHealth, ReadsAStandInProcWhenGivenOne) {
  auto root =
      std::filesystem::temp_directory_path() / ("kumo-health-test-" + std::to_string(getpid()));
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root / "7");
  std::filesystem::create_directories(root / "9");
  std::filesystem::create_directories(root / "pressure");
  std::ofstream(root / "uptime") << "12.50 3.00\n";
  std::ofstream(root / "loadavg") << "0.50 0.25 0.10 2/40 999\n";
  std::ofstream(root / "meminfo") << "MemTotal: 2048 kB\nMemAvailable: 1024 kB\n";
  std::ofstream(root / "7" / "comm") << "kumo-agent\n";
  std::ofstream(root / "9" / "comm") << "dropbear\n";

  json h = CollectHealth({}, root.string());
  EXPECT_DOUBLE_EQ(h["uptime_s"].get<double>(), 12.5);
  EXPECT_DOUBLE_EQ(h["load"]["1m"].get<double>(), 0.5);
  EXPECT_EQ(h["memory"]["total_kib"], 2048);
  EXPECT_TRUE(h["pressure"].is_null()) << "no pressure files: a kernel without PSI";
  EXPECT_EQ(h["processes"], 2);
  EXPECT_EQ(h["sshd"]["program"], "dropbear");
  EXPECT_EQ(h["sshd"]["pid"], 9);
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace kumo::agent
