#include "common/state_dir.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace kumo {
namespace {

class StateDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kumo-state-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(StateDirTest, OneKumodAtATimeAndTheSecondIsToldWhoHoldsIt) {
  auto first = LockStateDir(dir_);
  ASSERT_TRUE(first.ok()) << first.status().message();
  std::ifstream in(dir_ + "/kumod.lock");
  std::string pid;
  in >> pid;
  EXPECT_EQ(pid, std::to_string(getpid()));

  // A second open of the lock file conflicts, as a second kumod's would.
  auto second = LockStateDir(dir_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), codes::kInvalidState);
  EXPECT_NE(second.status().message().find("(pid " + std::to_string(getpid()) + ")"),
            std::string::npos)
      << second.status().message();
  EXPECT_NE(second.status().hint().find("--state-dir"), std::string::npos);

  // Released with its holder: the next kumod takes it.
  { StateDirLock released = std::move(*first); }
  EXPECT_TRUE(LockStateDir(dir_).ok());
}

}  // namespace
}  // namespace kumo
