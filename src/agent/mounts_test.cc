#include "agent/mounts.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

namespace kumo::agent {
namespace {

TEST(ParseMountInfoLine, ReadsDeviceMountpointTypeAndSource) {
  auto m = ParseMountInfoLine(
      "29 1 254:1 / / rw,relatime shared:1 master:2 - ext4 /dev/vda1 rw,errors=remount-ro");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->major, 254u);
  EXPECT_EQ(m->minor, 1u);
  EXPECT_EQ(m->mountpoint, "/");
  EXPECT_EQ(m->type, "ext4");
  EXPECT_EQ(m->source, "/dev/vda1");
  EXPECT_TRUE(IsRealFilesystem(*m));
}

TEST(ParseMountInfoLine, DecodesOctalEscapes) {
  auto m = ParseMountInfoLine("40 29 254:2 / /mnt/my\\040disk rw - xfs /dev/vdb rw");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->mountpoint, "/mnt/my disk");
}

TEST(ParseMountInfoLine, RejectsMalformedLines) {
  for (const char* line : {"", "garbage", "1 2 3 4 5 6 - ", "22 1 x:1 / /p rw - ext4 /dev/a rw",
                           "22 1 8: / /p rw - ext4 /dev/a rw", "22 1 8:1 / /p rw ext4 /dev/a"}) {
    EXPECT_FALSE(ParseMountInfoLine(line)) << line;
  }
}

TEST(IsRealFilesystem, SkipsVirtualAndNetworkFilesystems) {
  auto proc = ParseMountInfoLine("22 1 0:20 / /proc rw - proc proc rw");
  auto cifs = ParseMountInfoLine("50 1 0:50 / /share rw - cifs //srv/x rw");
  auto cifs_dev = ParseMountInfoLine("51 1 8:3 / /share2 rw - cifs //srv/y rw");
  ASSERT_TRUE(proc && cifs && cifs_dev);
  EXPECT_FALSE(IsRealFilesystem(*proc));
  EXPECT_FALSE(IsRealFilesystem(*cifs));
  EXPECT_FALSE(IsRealFilesystem(*cifs_dev));
}

TEST(RealMounts, ThisSystemHasARealRoot) {
  struct stat st {};
  ASSERT_EQ(stat("/", &st), 0);
  if (major(st.st_dev) == 0) GTEST_SKIP() << "/ is not on a block device here (a container?)";
  bool root = false;
  for (const auto& m : RealMounts()) root = root || m.mountpoint == "/";
  EXPECT_TRUE(root);
}

}  // namespace
}  // namespace kumo::agent
