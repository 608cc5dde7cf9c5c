#include "agent/vcpus.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace kumo::agent {
namespace {

TEST(Vcpus, ReadsOnlineStateLikeQemuGa) {
  char tmpl[] = "/tmp/vcpus-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::filesystem::path root = tmpl;
  for (const char* d : {"cpu0", "cpu1", "cpu2", "cpufreq", "cpuidle"}) {
    std::filesystem::create_directory(root / d);
  }
  std::ofstream(root / "cpu1" / "online") << "1\n";
  std::ofstream(root / "cpu2" / "online") << "0\n";
  EXPECT_EQ(Vcpus(root), nlohmann::json::parse(R"([
      {"logical-id": 2, "online": false, "can-offline": true},
      {"logical-id": 1, "online": true, "can-offline": true},
      {"logical-id": 0, "online": true, "can-offline": false}])"));
  std::filesystem::remove_all(root);
  EXPECT_EQ(Vcpus(root), nlohmann::json::array());
}

}  // namespace
}  // namespace kumo::agent
