#include "common/disk_space.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

namespace kumo {
namespace {

std::string TempDir() {
  char tmpl[] = "/tmp/kumo-space.XXXXXX";
  return mkdtemp(tmpl);
}

TEST(DiskSpace, ReadsTheFilesystemOfAPath) {
  auto space = DiskSpaceOf("/tmp");
  ASSERT_TRUE(space.ok()) << space.status().message();
  EXPECT_GT(space->total_bytes, 0u);
  EXPECT_LE(space->free_bytes, space->total_bytes);
  EXPECT_FALSE(DiskSpaceOf("/no/such/dir").ok());
}

TEST(DiskSpace, LowIsUnderFivePercentOrUnder256MiB) {
  const uint64_t gib = uint64_t{1} << 30;
  EXPECT_TRUE((DiskSpace{100u << 20, 100 * gib}).low());
  EXPECT_TRUE((DiskSpace{4 * gib, 100 * gib}).low());
  EXPECT_FALSE((DiskSpace{6 * gib, 100 * gib}).low());
}

TEST(SpaceReserve, HoldsRealBlocksAndGivesThemBack) {
  std::string dir = TempDir();
  SpaceReserve reserve(dir + "/kumod.reserve", 1 << 20);
  ASSERT_TRUE(reserve.Restore().ok());
  struct stat st {};
  ASSERT_EQ(stat(reserve.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_GE(static_cast<uint64_t>(st.st_blocks) * 512, uint64_t{1} << 20) << "not sparse";
  EXPECT_TRUE(reserve.Restore().ok()) << "already there";
  EXPECT_TRUE(reserve.Release());
  EXPECT_FALSE(reserve.Release()) << "nothing left to give";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kumo
