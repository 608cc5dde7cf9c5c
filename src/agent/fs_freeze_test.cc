#include "agent/fs_freeze.h"

#include <gtest/gtest.h>

namespace kumo::agent {
namespace {

std::vector<Mount> Fixture() {
  return {{254, 1, "/", "ext4", "/dev/vda1"},
          {254, 2, "/boot", "ext4", "/dev/vda2"},
          {254, 17, "/srv/data", "xfs", "/dev/vdb1"}};
}

TEST(FreezeOrder, NestedMountsFirst) {
  EXPECT_EQ(FreezeOrder(Fixture(), std::nullopt),
            (std::vector<std::string>{"/srv/data", "/boot", "/"}));
}

TEST(FreezeOrder, ListPicksMountpointsAndIgnoresUnmountedOnes) {
  EXPECT_EQ(FreezeOrder(Fixture(), std::vector<std::string>{"/", "/nonexistent", "/srv/data"}),
            (std::vector<std::string>{"/srv/data", "/"}));
  EXPECT_TRUE(FreezeOrder(Fixture(), std::vector<std::string>{}).empty());
}

TEST(FreezeFilesystems, MissingMountpointFailsWithQemuGaWording) {
  std::string err;
  EXPECT_FALSE(FreezeFilesystems({"/nonexistent/mountpoint"}, &err));
  EXPECT_EQ(err, "failed to open /nonexistent/mountpoint: No such file or directory");
  err.clear();
  EXPECT_EQ(FreezeFilesystems({}, &err), 0);
}

TEST(TrimFilesystems, ReportsPerPathErrors) {
  auto r = TrimFilesystems({{254, 1, "/nonexistent/mountpoint", "ext4", "/dev/x"}}, 0);
  EXPECT_EQ(r, nlohmann::json::parse(R"({"paths": [{"path": "/nonexistent/mountpoint",
      "error": "failed to open: No such file or directory"}]})"));
}

}  // namespace
}  // namespace kumo::agent
