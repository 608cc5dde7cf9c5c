#include "agent/oom_watch.h"

#include <gtest/gtest.h>

namespace kumo::agent {
namespace {

TEST(ParseOomKillRecord, ReadsGlobalOomKill) {
  auto kill = ParseOomKillRecord(
      "3,812,5123456,-;Out of memory: Killed process 241 (stress) total-vm:310000kB, "
      "anon-rss:250000kB, file-rss:1200kB, shmem-rss:8kB, UID:0 pgtables:600kB oom_score_adj:0\n");
  ASSERT_TRUE(kill.has_value());
  EXPECT_EQ(kill->pid, 241);
  EXPECT_EQ(kill->process, "stress");
  EXPECT_EQ(kill->rss_kib, 251208u);
  EXPECT_EQ(kill->uptime_us, 5123456u);
}

TEST(ParseOomKillRecord, ReadsMemoryCgroupOomKillWithSpacesInName) {
  auto kill = ParseOomKillRecord(
      "3,9,77,-;Memory cgroup out of memory: Killed process 90 (my worker) total-vm:10kB, "
      "anon-rss:4kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:40kB oom_score_adj:0\n"
      " SUBSYSTEM=memory\n");
  ASSERT_TRUE(kill.has_value());
  EXPECT_EQ(kill->pid, 90);
  EXPECT_EQ(kill->process, "my worker");
  EXPECT_EQ(kill->rss_kib, 4u);
}

TEST(ParseOomKillRecord, IgnoresOtherRecords) {
  for (const char* record : {
           "6,1,0,-;Linux version 6.1.0-28-cloud-amd64",
           "4,2,10,-;stress invoked oom-killer: gfp_mask=0x140dca(GFP_HIGHUSER_MOVABLE|__GFP_COMP)",
           "3,3,11,-;Out of memory: Killed process",  // truncated
           "no header at all",
           "",
       }) {
    EXPECT_FALSE(ParseOomKillRecord(record).has_value()) << record;
  }
}

}  // namespace
}  // namespace kumo::agent
