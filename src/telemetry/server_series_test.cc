#include "telemetry/server_series.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "support/child_process.h"

namespace kumo::telemetry {
namespace {

using kumo::testing::TempDir;

constexpr int64_t kT0 = 1'764'600'000'000;  // a whole hour, ms
constexpr size_t kRecord = ServerSeries::kRecordBytes;

Sample At(int64_t time_ms, float load1) {
  Sample s;
  s.time_ms = time_ms;
  s.agent_up = true;
  s.load1 = load1;
  return s;
}

std::unique_ptr<ServerSeries> OpenOrDie(const std::string& dir) {
  auto series = ServerSeries::Open(dir);
  EXPECT_TRUE(series.ok()) << series.status().ToString();
  return series.ok() ? std::move(*series) : nullptr;
}

// Byte offset of the record of `time_ms` in the 5 s ring.
off_t Offset5s(int64_t time_ms) {
  return static_cast<off_t>(kRecord * (1 + (time_ms / 5000) % 720));
}

TEST(ServerSeries, FilesAreFixedInSizeAndPrivate) {
  TempDir dir;
  auto series = OpenOrDie(dir.path());
  for (const char* name : {"telemetry-5s.ring", "telemetry-1m.ring"}) {
    struct stat st {};
    ASSERT_EQ(stat((dir / name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << name;
  }
  EXPECT_EQ(std::filesystem::file_size(dir / "telemetry-5s.ring"), kRecord * 721);
  EXPECT_EQ(std::filesystem::file_size(dir / "telemetry-1m.ring"), kRecord * 1441);
  for (int i = 0; i < 3000; ++i) series->Add(At(kT0 + i * 5000, 1));
  series->Flush();
  EXPECT_EQ(std::filesystem::file_size(dir / "telemetry-5s.ring"), kRecord * 721);
  EXPECT_EQ(std::filesystem::file_size(dir / "telemetry-1m.ring"), kRecord * 1441);
  EXPECT_EQ(series->write_errors(), 0u);
}

TEST(ServerSeries, WrapsAroundAfter720StepsKeepingTheLastHour) {
  TempDir dir;
  auto series = OpenOrDie(dir.path());
  for (int i = 0; i < 720 + 100; ++i) series->Add(At(kT0 + i * 5000, static_cast<float>(i)));
  auto all = series->Read(Resolution::k5s, 0, INT64_MAX);
  ASSERT_EQ(all.size(), 720u);
  EXPECT_EQ(all.front().time_ms, kT0 + 100 * 5000);
  EXPECT_EQ(all.front().load1, 100);
  EXPECT_EQ(all.back().time_ms, kT0 + 819 * 5000);
  for (size_t i = 1; i < all.size(); ++i) EXPECT_EQ(all[i].time_ms - all[i - 1].time_ms, 5000);
  auto window = series->Read(Resolution::k5s, kT0 + 700 * 5000, kT0 + 710 * 5000);
  ASSERT_EQ(window.size(), 10u);
  EXPECT_EQ(window[0].load1, 700);
}

TEST(ServerSeries, SeveralSamplesInOneStepTheLastWins) {
  TempDir dir;
  auto series = OpenOrDie(dir.path());
  series->Add(At(kT0 + 1000, 1));
  series->Add(At(kT0 + 2000, 2));
  series->Add(At(kT0 + 4999, 3));
  series->Add(At(kT0 + 5000, 4));
  auto all = series->Read(Resolution::k5s, 0, INT64_MAX);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].load1, 3);
  EXPECT_EQ(all[1].load1, 4);
  ASSERT_EQ(series->Recent().size(), 2u);
  EXPECT_EQ(series->Recent()[0].load1, 3);
}

TEST(ServerSeries, ReopenKeepsTheHistoryAndThePartialMinute) {
  TempDir dir;
  {
    auto series = OpenOrDie(dir.path());
    for (int i = 0; i < 30; ++i) series->Add(At(kT0 + i * 5000, static_cast<float>(i)));
  }  // closing flushes the partial minute (i = 24..29)
  auto series = OpenOrDie(dir.path());
  auto fine = series->Read(Resolution::k5s, 0, INT64_MAX);
  ASSERT_EQ(fine.size(), 30u);
  EXPECT_EQ(fine[29].load1, 29);
  auto minutes = series->Read(Resolution::k1m, 0, INT64_MAX);
  ASSERT_EQ(minutes.size(), 3u);
  EXPECT_EQ(minutes[2].time_ms, kT0 + 2 * 60000);
  EXPECT_FLOAT_EQ(minutes[2].load1, (24 + 25 + 26 + 27 + 28 + 29) / 6.0f);
  // Recent() resumes from the 5 s ring, and so does the current minute's mean.
  ASSERT_EQ(series->Recent().size(), 30u);
  EXPECT_EQ(series->Recent().back().load1, 29);
  for (int i = 30; i < 37; ++i) series->Add(At(kT0 + i * 5000, static_cast<float>(i)));
  minutes = series->Read(Resolution::k1m, 0, INT64_MAX);
  ASSERT_EQ(minutes.size(), 3u);
  EXPECT_FLOAT_EQ(minutes[2].load1, 29.5f);  // mean of 24..35, not of 30..35 only

  // An hour later, the stale context goes with the first new sample.
  series->Add(At(kT0 + 3600'000, 1));
  ASSERT_EQ(series->Recent().size(), 1u);
}

TEST(ServerSeries, MinuteRollUpIsTheMeanMaxOfOomAndAnyAgentUp) {
  TempDir dir;
  auto series = OpenOrDie(dir.path());
  for (int i = 0; i < 12; ++i) {
    Sample s = At(kT0 + i * 5000, static_cast<float>(i));
    s.agent_up = i == 7;
    s.mem_available_kib = i % 2 ? NAN : 1000.0f * i;  // unknown half the time
    s.oom_kills = i < 5 ? 2 : i < 9 ? 3 : NAN;
    s.qemu_cpu_percent = 50;
    series->Add(s);
  }
  EXPECT_TRUE(series->Read(Resolution::k1m, 0, INT64_MAX).empty());  // minute not complete
  series->Add(At(kT0 + 60000, 100));  // the next minute completes the first
  auto minutes = series->Read(Resolution::k1m, 0, INT64_MAX);
  ASSERT_EQ(minutes.size(), 1u);
  const Sample& m = minutes[0];
  EXPECT_EQ(m.time_ms, kT0);
  EXPECT_TRUE(m.agent_up);
  EXPECT_FLOAT_EQ(m.load1, 5.5f);                                                // mean of 0..11
  EXPECT_FLOAT_EQ(m.mem_available_kib, 1000.0f * (0 + 2 + 4 + 6 + 8 + 10) / 6);  // NaN left out
  EXPECT_EQ(m.oom_kills, 3);
  EXPECT_EQ(m.qemu_cpu_percent, 50);
  EXPECT_TRUE(std::isnan(m.psi_mem_some10));  // never known
}

TEST(ServerSeries, RecentHoldsTenMinutesOldestFirst) {
  TempDir dir;
  auto series = OpenOrDie(dir.path());
  for (int i = 0; i < 5 * 720; ++i) series->Add(At(kT0 + i * 1000, static_cast<float>(i)));
  const auto& recent = series->Recent();
  ASSERT_EQ(recent.size(), 120u);  // one per 5 s step over 10 min
  EXPECT_EQ(recent.back().time_ms, kT0 + (5 * 720 - 1) * 1000);
  EXPECT_GT(recent.front().time_ms, recent.back().time_ms - ServerSeries::kRecentMs);
  for (size_t i = 1; i < recent.size(); ++i) EXPECT_LT(recent[i - 1].time_ms, recent[i].time_ms);
}

TEST(ServerSeries, AClockSteppedBackRestartsRecent) {
  TempDir dir;
  auto series = OpenOrDie(dir.path());
  for (int i = 0; i < 10; ++i) series->Add(At(kT0 + i * 5000, 1));
  series->Add(At(kT0 - 3600'000, 2));
  ASSERT_EQ(series->Recent().size(), 1u);
  EXPECT_EQ(series->Recent()[0].load1, 2);
  series->Add(At(0, 3));
  series->Add(At(-5, 3));
  EXPECT_EQ(series->Recent().size(), 1u);
}

TEST(ServerSeries, ACorruptedByteSkipsOnlyThatRecord) {
  TempDir dir;
  auto series = OpenOrDie(dir.path());
  for (int i = 0; i < 10; ++i) series->Add(At(kT0 + i * 5000, static_cast<float>(i)));
  int fd = open((dir / "telemetry-5s.ring").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  char byte = 0x5a;
  ASSERT_EQ(pwrite(fd, &byte, 1, Offset5s(kT0 + 4 * 5000) + 20), 1);  // inside load1 … fields
  close(fd);
  auto all = series->Read(Resolution::k5s, 0, INT64_MAX);
  ASSERT_EQ(all.size(), 9u);
  for (const auto& s : all) EXPECT_NE(s.time_ms, kT0 + 4 * 5000);
}

TEST(ServerSeries, ARecordCopiedToAnotherSlotIsSkipped) {
  TempDir dir;
  auto series = OpenOrDie(dir.path());
  series->Add(At(kT0, 7));
  int fd = open((dir / "telemetry-5s.ring").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  char record[kRecord];
  ASSERT_EQ(pread(fd, record, kRecord, Offset5s(kT0)), static_cast<ssize_t>(kRecord));
  ASSERT_EQ(pwrite(fd, record, kRecord, Offset5s(kT0 + 5000 * 3)), static_cast<ssize_t>(kRecord));
  close(fd);
  auto all = series->Read(Resolution::k5s, 0, INT64_MAX);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].time_ms, kT0);
}

TEST(ServerSeries, AFileTruncatedOrGrownBySomeoneElseIsHandled) {
  TempDir dir;
  auto series = OpenOrDie(dir.path());
  for (int i = 0; i < 20; ++i) series->Add(At(kT0 + i * 5000, static_cast<float>(i)));
  std::string path = dir / "telemetry-5s.ring";
  int64_t first_slot = (kT0 / 5000) % 720;
  // Cut in the middle of the 11th record: 10 whole records remain.
  ASSERT_EQ(truncate(path.c_str(), Offset5s(kT0 + 10 * 5000) + 10), 0);
  ASSERT_LE(first_slot + 20, 720);  // the 20 records lie in a row
  EXPECT_EQ(series->Read(Resolution::k5s, 0, INT64_MAX).size(), 10u);
  series->Add(At(kT0 + 30 * 5000, 30));  // written past the cut: a hole between
  auto after = series->Read(Resolution::k5s, 0, INT64_MAX);
  ASSERT_EQ(after.size(), 11u);
  EXPECT_EQ(after.back().load1, 30);

  // Grown (and garbage appended): the records stay; reopening restores the size.
  {
    int fd = open(path.c_str(), O_WRONLY | O_APPEND);
    ASSERT_GE(fd, 0);
    std::string junk(100000, '\x7f');
    ASSERT_EQ(write(fd, junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
    close(fd);
  }
  EXPECT_EQ(series->Read(Resolution::k5s, 0, INT64_MAX).size(), 11u);
  series.reset();
  series = OpenOrDie(dir.path());
  EXPECT_EQ(std::filesystem::file_size(path), kRecord * 721);
  EXPECT_EQ(series->Read(Resolution::k5s, 0, INT64_MAX).size(), 11u);

  // Truncated to nothing while closed: a fresh ring.
  series.reset();
  ASSERT_EQ(truncate(path.c_str(), 0), 0);
  series = OpenOrDie(dir.path());
  EXPECT_TRUE(series->Read(Resolution::k5s, 0, INT64_MAX).empty());
  EXPECT_EQ(std::filesystem::file_size(path), kRecord * 721);
}

TEST(ServerSeries, AFileOfAnotherLayoutIsStartedAfresh) {
  TempDir dir;
  kumo::testing::WriteFile(dir / "telemetry-5s.ring", std::string(200000, '\1'), 0644);
  auto series = OpenOrDie(dir.path());
  EXPECT_TRUE(series->Read(Resolution::k5s, 0, INT64_MAX).empty());
  EXPECT_EQ(std::filesystem::file_size(dir / "telemetry-5s.ring"), kRecord * 721);
  struct stat st {};
  ASSERT_EQ(stat((dir / "telemetry-5s.ring").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(ServerSeries, RefusesASymlinkOrAFifoPlantedInTheDirectory) {
  TempDir dir;
  TempDir elsewhere;
  std::string target = elsewhere / "victim";
  kumo::testing::WriteFile(target, "precious", 0600);
  ASSERT_EQ(symlink(target.c_str(), (dir / "telemetry-5s.ring").c_str()), 0);
  auto refused = ServerSeries::Open(dir.path());
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(kumo::testing::ReadFile(target), "precious");

  TempDir dir2;
  ASSERT_EQ(mkfifo((dir2 / "telemetry-1m.ring").c_str(), 0600), 0);
  auto fifo = ServerSeries::Open(dir2.path());  // must not hang
  ASSERT_FALSE(fifo.ok());
  EXPECT_NE(fifo.status().message().find("not a regular file"), std::string::npos);
}

TEST(ServerSeries, SeriesJsonIsColumnarWithNullForUnknown) {
  Sample a = At(kT0, 0.3f);
  Sample b;
  b.time_ms = kT0 + 5000;
  b.qemu_rss_mib = 512;
  auto j = SeriesJson({a, b});
  EXPECT_EQ(j["time"], nlohmann::json({kT0, kT0 + 5000}));
  EXPECT_EQ(j["agent_up"], nlohmann::json({true, false}));
  EXPECT_EQ(j["load1"], nlohmann::json({0.3, nullptr}));
  EXPECT_EQ(j["qemu_rss_mib"], nlohmann::json({nullptr, 512.0}));
  EXPECT_EQ(j["load1"][0].dump(), "0.3");
  for (const auto& f : kSampleFields) EXPECT_EQ(j[f.name].size(), 2u) << f.name;
  EXPECT_EQ(SeriesJson({})["time"], nlohmann::json::array());
}

TEST(SampleOf, TakesTheGuestFiguresOnlyFromAnAnswer) {
  GuestHealth h;
  h.load1 = 2.5;
  h.mem_available_kib = 1000;
  h.psi_mem_some10 = 40;
  h.oom_kills.resize(3);
  Sample up = SampleOf(kT0, &h, 87.5, 3ull << 20);
  EXPECT_TRUE(up.agent_up);
  EXPECT_EQ(up.load1, 2.5f);
  EXPECT_EQ(up.mem_available_kib, 1000);
  EXPECT_EQ(up.psi_mem_some10, 40);
  EXPECT_TRUE(std::isnan(up.psi_io_some10));
  EXPECT_EQ(up.oom_kills, 3);
  EXPECT_EQ(up.qemu_cpu_percent, 87.5f);
  EXPECT_EQ(up.qemu_rss_mib, 3);

  Sample down = SampleOf(kT0, nullptr, std::nullopt, 1ull << 20);
  EXPECT_FALSE(down.agent_up);
  EXPECT_TRUE(std::isnan(down.load1) && std::isnan(down.oom_kills) &&
              std::isnan(down.qemu_cpu_percent));
  EXPECT_EQ(down.qemu_rss_mib, 1);
}

}  // namespace
}  // namespace kumo::telemetry
