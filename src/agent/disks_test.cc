#include "agent/disks.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

namespace kumo::agent {
namespace {

TEST(PciAddress, TakesTheLastPciDeviceOfTheSysfsPath) {
  EXPECT_EQ(PciAddress("/sys/devices/pci0000:00/0000:00:02.0/virtio1/block/vda"),
            nlohmann::json({{"domain", 0}, {"bus", 0}, {"slot", 2}, {"function", 0}}));
  EXPECT_EQ(PciAddress("/sys/devices/pci0000:00/0000:00:1c.0/0000:01:00.3/nvme/nvme0/nvme0n1"),
            nlohmann::json({{"domain", 0}, {"bus", 1}, {"slot", 0}, {"function", 3}}));
  EXPECT_EQ(PciAddress("/sys/devices/virtual/block/dm-0"), std::nullopt);
  EXPECT_EQ(PciAddress("/sys/devices/platform/x:y.z/block/mmcblk0"), std::nullopt);
}

TEST(DiskAddress, DevicesOffPciHaveNone) {
  EXPECT_EQ(DiskAddress("/sys/devices/virtual/block/loop0"), std::nullopt);
}

TEST(FilesystemInfo, DescribesTheRootOfThisSystem) {
  struct stat st {};
  ASSERT_EQ(stat("/", &st), 0);
  if (major(st.st_dev) == 0) GTEST_SKIP() << "/ is not on a block device here (a container?)";
  auto all = FilesystemInfo(RealMounts());
  bool root = false;
  for (const auto& fs : all) {
    if (fs["mountpoint"] != "/") continue;
    root = true;
    EXPECT_GT(fs["total-bytes"].get<uint64_t>(), 0u);
    EXPECT_LE(fs["used-bytes"].get<uint64_t>(), fs["total-bytes"].get<uint64_t>());
    EXPECT_TRUE(fs["disk"].is_array());
  }
  EXPECT_TRUE(root) << all.dump();
}

}  // namespace
}  // namespace kumo::agent
