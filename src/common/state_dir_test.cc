#include "common/state_dir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>

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

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST_F(StateDirTest, TakesANewOrEmptyDirectoryOrItsOwnAndMakesItPrivate) {
  struct Case {
    const char* what;
    std::function<std::string(const std::string&)> make;  // returns the state dir
  } cases[] = {
      {"does not exist", [](const std::string& root) { return root + "/a/b/state"; }},
      {"empty, ours",
       [](const std::string& root) {
         std::filesystem::create_directory(root + "/empty");
         chmod((root + "/empty").c_str(), 0755);
         return root + "/empty";
       }},
      {"kumo's, from before (loose)",
       [](const std::string& root) {
         std::filesystem::create_directories(root + "/old/servers");
         std::ofstream(root + "/old/kumod.db") << "x";
         chmod((root + "/old").c_str(), 0755);
         return root + "/old";
       }},
  };
  for (const auto& c : cases) {
    std::string state = c.make(dir_);
    Status s = PrepareStateDir(state);
    ASSERT_TRUE(s.ok()) << c.what << ": " << s.message();
    EXPECT_EQ(ModeOf(state), 0700) << c.what;
    EXPECT_EQ(ModeOf(state + "/servers"), 0700) << c.what;
  }
}

TEST_F(StateDirTest, RefusesADirectoryKumoDidNotCreateAndLeavesItAlone) {
  // Like --state-dir /tmp or a home directory: other files, no kumo marks.
  std::string shared = dir_ + "/shared";
  std::filesystem::create_directory(shared);
  std::ofstream(shared + "/notes.txt") << "someone else's";
  chmod(shared.c_str(), 01777);
  Status s = PrepareStateDir(shared);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), codes::kInvalidArgument);
  EXPECT_NE(s.message().find("kumo did not create"), std::string::npos) << s.message();
  EXPECT_NE(s.hint().find("--state-dir"), std::string::npos) << s.hint();
  EXPECT_EQ(ModeOf(shared), 01777);
  EXPECT_FALSE(std::filesystem::exists(shared + "/servers"));

  std::string file = dir_ + "/file";
  std::ofstream(file) << "x";
  Status not_dir = PrepareStateDir(file);
  ASSERT_FALSE(not_dir.ok());
  EXPECT_NE(not_dir.message().find("not a directory"), std::string::npos) << not_dir.message();
}

TEST_F(StateDirTest, RefusesAnEmptyDirectoryOfAnotherUser) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to chown";
  std::string theirs = dir_ + "/theirs";
  std::filesystem::create_directory(theirs);
  ASSERT_EQ(chown(theirs.c_str(), 65534, 65534), 0);
  Status s = PrepareStateDir(theirs);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("another user (uid 65534)"), std::string::npos) << s.message();
}

TEST_F(StateDirTest, ATokenOpenToOthersIsRefusedUntouchedAPrivateOneIsUsed) {
  auto created = LoadOrCreateToken(dir_);
  ASSERT_TRUE(created.ok()) << created.status().message();
  const std::string path = dir_ + "/token";
  EXPECT_EQ(ModeOf(path), 0600);

  for (mode_t loose : {0644, 0640, 0604, 0660}) {
    ASSERT_EQ(chmod(path.c_str(), loose), 0);
    auto refused = LoadOrCreateToken(dir_);
    ASSERT_FALSE(refused.ok()) << std::oct << loose;
    EXPECT_EQ(refused.status().code(), codes::kInvalidState);
    EXPECT_NE(refused.status().message().find(path), std::string::npos);
    EXPECT_NE(refused.status().message().find("open to other users"), std::string::npos)
        << refused.status().message();
    EXPECT_NE(refused.status().hint().find("chmod 600"), std::string::npos);
    EXPECT_EQ(ModeOf(path), loose);  // the operator decides
  }

  ASSERT_EQ(chmod(path.c_str(), 0400), 0);  // stricter is fine
  auto again = LoadOrCreateToken(dir_);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(*again, *created);
}

}  // namespace
}  // namespace kumo
