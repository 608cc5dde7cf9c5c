#include "cloudinit/seed_image.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cloudinit/seed.h"

extern char** environ;

namespace kumo::cloudinit {
namespace {

namespace fs = std::filesystem;

// Runs argv (no shell) and returns its standard output; "" on failure.
std::string Capture(const std::vector<std::string>& args) {
  int fds[2];
  if (pipe(fds) != 0) return "";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while (rc == 0 && (n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, n);
  close(fds[0]);
  if (rc == 0) waitpid(pid, nullptr, 0);
  return out;
}

class SeedImage : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kumo-seed-image-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
  }
  void TearDown() override { fs::remove_all(tmp_); }
  std::string Extract(const std::string& image, const std::string& path) {
    return Capture({ISOINFO_PATH, "-R", "-i", image, "-x", path});
  }
  fs::path tmp_;
};

TEST_F(SeedImage, IsACidataIsoWithJolietAndRockRidge) {
  ASSERT_NE(std::string(ISOINFO_PATH), "") << "isoinfo (package genisoimage) is missing";
  const std::string yaml = "#cloud-config\nhostname: h\nruncmd:\n  - [echo, \"a b\"]\n";
  fs::path dir = tmp_ / "seed";
  ASSERT_TRUE(WriteSeed({"i-42", "web", yaml, "ssh-ed25519 AAAA k"}, dir).ok());
  std::string image = tmp_ / "seed.iso";
  Status s = BuildSeedImage(dir, image);
  ASSERT_TRUE(s.ok()) << s.ToString();

  struct stat st {};
  ASSERT_EQ(stat(image.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_FALSE(fs::exists(image + ".tmp"));

  std::string info = Capture({ISOINFO_PATH, "-d", "-i", image});
  EXPECT_NE(info.find("Volume id: cidata\n"), std::string::npos) << info;
  EXPECT_NE(info.find("Joliet"), std::string::npos) << info;
  EXPECT_NE(info.find("Rock Ridge signatures"), std::string::npos) << info;

  EXPECT_EQ(Extract(image, "/user-data"), yaml);
  EXPECT_NE(Extract(image, "/meta-data").find("instance-id: \"i-42\""), std::string::npos);
  EXPECT_EQ(Extract(image, "/kumo/hostname"), "h\n");
  EXPECT_EQ(Extract(image, "/kumo/runcmd/001.argv"), std::string("echo\0a b\0", 9));
}

TEST_F(SeedImage, RebuildReplacesTheImage) {
  fs::path dir = tmp_ / "seed";
  std::string image = tmp_ / "seed.iso";
  ASSERT_TRUE(WriteSeed({"i-1", "web", "", ""}, dir).ok());
  ASSERT_TRUE(BuildSeedImage(dir, image).ok());
  ASSERT_TRUE(WriteSeed({"i-2", "web", "", ""}, dir).ok());
  ASSERT_TRUE(BuildSeedImage(dir, image).ok());
  EXPECT_EQ(Extract(image, "/kumo/instance-id"), "i-2\n");
}

TEST_F(SeedImage, MissingDirectoryIsAnError) {
  Status s = BuildSeedImage(tmp_ / "nope", tmp_ / "seed.iso");
  EXPECT_EQ(s.code(), codes::kInternal);
  EXPECT_EQ(s.message(), "cannot build the seed image: the seed directory " +
                             (tmp_ / "nope").string() + " does not exist");
}

TEST_F(SeedImage, GenisoimageErrorsAreReported) {
  fs::path dir = tmp_ / "seed";
  ASSERT_TRUE(WriteSeed({"i-1", "web", "", ""}, dir).ok());
  Status s = BuildSeedImage(dir, tmp_ / "no-such-dir" / "seed.iso");
  EXPECT_EQ(s.code(), codes::kInternal);
  EXPECT_NE(s.message().find("cannot build the seed image: "), std::string::npos);
  EXPECT_NE(s.message().find("no-such-dir"), std::string::npos) << s.message();
}

TEST_F(SeedImage, NamesAMissingGenisoimage) {
  fs::path dir = tmp_ / "seed";
  ASSERT_TRUE(WriteSeed({"i-1", "web", "", ""}, dir).ok());
  std::string saved = getenv("PATH") ? getenv("PATH") : "";
  setenv("PATH", (tmp_ / "empty-path").c_str(), 1);
  Status s = BuildSeedImage(dir, tmp_ / "seed.iso");
  setenv("PATH", saved.c_str(), 1);
  EXPECT_EQ(s.message(), "cannot build the seed image: genisoimage: not found");
  EXPECT_EQ(s.hint(), "install genisoimage (scripts/install-deps.sh)");
}

}  // namespace
}  // namespace kumo::cloudinit
