#include "telemetry/process_figures.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "support/child_process.h"

namespace kumo::telemetry {
namespace {

// Fields 3.. of /proc/PID/stat with utime 250 and stime 50 (fields 14, 15).
const std::string kAfterComm =
    " S 1 301 301 0 -1 4194560 5000 0 0 0 250 50 0 0 20 0 3 0 12345 2000000000 40000 "
    "18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 0 0 0 0 0 0";

TEST(ProcessFigures, CountsFieldsFromTheLastParenthesis) {
  struct Case {
    std::string comm;
  };
  const Case cases[] = {{"(qemu-system-x86)"}, {"(a) b)"}, {"(a b c)"}, {"())"}, {"(( ) ) 7 8)"}};
  for (const auto& c : cases) {
    auto f =
        ParseProcStat("4242 " + c.comm + kAfterComm, "500000 40000 3000 1 0 9000 0\n", 100, 4096);
    ASSERT_TRUE(f.has_value()) << c.comm;
    EXPECT_DOUBLE_EQ(f->cpu_seconds, 3.0) << c.comm;  // (250 + 50) / 100
    EXPECT_EQ(f->rss_bytes, 40000ull * 4096) << c.comm;
  }
}

TEST(ProcessFigures, MalformedTextIsRefused) {
  const std::string good_stat = "4242 (qemu)" + kAfterComm;
  const std::string good_statm = "500000 40000 3000 1 0 9000 0\n";
  struct Case {
    std::string stat, statm;
    long ticks, page;
  };
  const Case cases[] = {
      {"", good_statm, 100, 4096},
      {"4242 qemu S 1 2 3", good_statm, 100, 4096},                // no parentheses
      {"4242 (qemu) S 1 2 3 4 5 6 7 8 9", good_statm, 100, 4096},  // too few fields
      {"4242 (qemu) S 1 301 301 0 -1 4194560 5000 0 0 0 -250 50", good_statm, 100, 4096},
      {"4242 (qemu) S 1 301 301 0 -1 4194560 5000 0 0 0 2x0 50", good_statm, 100, 4096},
      {"4242 (qemu) S 1 301 301 0 -1 4194560 5000 0 0 0 99999999999999999999999 50", good_statm,
       100, 4096},
      {")4242 (qemu" + kAfterComm, good_statm, 100, 4096},
      {good_stat, "", 100, 4096},
      {good_stat, "500000", 100, 4096},
      {good_stat, "500000 -1", 100, 4096},
      {good_stat, "500000 18446744073709551615", 100, 4096},  // bytes would overflow
      {good_stat, good_statm, 0, 4096},
      {good_stat, good_statm, 100, -1},
  };
  for (const auto& c : cases) {
    EXPECT_FALSE(ParseProcStat(c.stat, c.statm, c.ticks, c.page).has_value())
        << c.stat << " | " << c.statm;
  }
  EXPECT_TRUE(ParseProcStat(good_stat, good_statm, 100, 4096).has_value());
}

TEST(ProcessFigures, ReadsARealProcessAndNothingForAGoneOne) {
  // A busy child: its CPU seconds grow while it spins.
  kumo::testing::ChildProcess child;
  std::string err;
  ASSERT_TRUE(child.Start({"/bin/sh", "-c", "while :; do :; done"}, "", &err)) << err;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::optional<ProcessFigures> f;
  while (std::chrono::steady_clock::now() < deadline) {
    f = ReadProcessFigures(child.pid());
    if (f && f->cpu_seconds >= 0.2) break;
    usleep(50'000);
  }
  ASSERT_TRUE(f.has_value());
  EXPECT_GE(f->cpu_seconds, 0.2);
  EXPECT_GT(f->rss_bytes, 0u);
  pid_t gone = child.pid();
  child.Stop();
  EXPECT_FALSE(ReadProcessFigures(gone).has_value());
  EXPECT_FALSE(ReadProcessFigures(0).has_value());
  EXPECT_FALSE(ReadProcessFigures(-1).has_value());
}

}  // namespace
}  // namespace kumo::telemetry
