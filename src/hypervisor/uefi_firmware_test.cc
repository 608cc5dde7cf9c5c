#include "hypervisor/uefi_firmware.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "support/child_process.h"

namespace kumo::hypervisor {
namespace {

using testing::ReadFile;
using testing::WriteFile;

class UefiFirmware : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(run_dir_);
    WriteFile(dir_ / "CODE.fd", std::string(4096, 'c'));
    WriteFile(dir_ / "VARS.fd", "empty variable store");
    spec_.paths.run_dir = run_dir_;
    spec_.uefi_code = dir_ / "CODE.fd";
    spec_.uefi_vars_template = dir_ / "VARS.fd";
  }
  bool Exists(const std::string& path) {
    struct stat st {};
    return lstat(path.c_str(), &st) == 0;
  }
  std::vector<std::string> RunDirFiles() {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(run_dir_)) {
      names.push_back(e.path().filename());
    }
    return names;
  }

  testing::TempDir dir_;
  std::string run_dir_ = dir_ / "servers/web";
  MachineSpec spec_;
};

TEST_F(UefiFirmware, ABiosMachineNeedsNothing) {
  MachineSpec bios;
  bios.paths.run_dir = run_dir_;
  EXPECT_TRUE(CheckUefiFirmware(bios).ok());
  EXPECT_TRUE(PrepareUefiVars(bios, std::nullopt).ok());
  EXPECT_TRUE(RunDirFiles().empty());
}

TEST_F(UefiFirmware, AMissingFileIsNamedWithThePackageAndTheFlag) {
  EXPECT_TRUE(CheckUefiFirmware(spec_).ok());

  spec_.uefi_code = dir_ / "no/OVMF_CODE_4M.fd";
  Status s = CheckUefiFirmware(spec_);
  EXPECT_EQ(s.code(), codes::kHypervisorError);
  EXPECT_NE(s.message().find(spec_.uefi_code), std::string::npos) << s.message();
  EXPECT_NE(s.hint().find("apt-get install ovmf"), std::string::npos) << s.hint();
  EXPECT_NE(s.hint().find("--ovmf-code"), std::string::npos) << s.hint();

  spec_.uefi_code = dir_ / "CODE.fd";
  spec_.uefi_vars_template = dir_.path();  // a directory, not a file
  s = CheckUefiFirmware(spec_);
  EXPECT_EQ(s.code(), codes::kHypervisorError);
  EXPECT_NE(s.message().find(spec_.uefi_vars_template), std::string::npos) << s.message();
  EXPECT_NE(s.hint().find("--ovmf-vars"), std::string::npos) << s.hint();
  EXPECT_FALSE(PrepareUefiVars(spec_, std::nullopt).ok());
  EXPECT_TRUE(RunDirFiles().empty()) << "nothing left behind";
}

TEST_F(UefiFirmware, TheTemplateIsNotNeededOnceTheMachineHasItsOwnStore) {
  ASSERT_TRUE(PrepareUefiVars(spec_, std::nullopt).ok());
  std::filesystem::remove(dir_ / "VARS.fd");
  EXPECT_TRUE(CheckUefiFirmware(spec_).ok());
  EXPECT_TRUE(PrepareUefiVars(spec_, std::nullopt).ok());
}

TEST_F(UefiFirmware, TheStoreIsAPrivateCopyMadeOnceAndNeverReplaced) {
  ASSERT_TRUE(PrepareUefiVars(spec_, std::nullopt).ok());
  const std::string vars = spec_.paths.uefi_vars();
  EXPECT_EQ(ReadFile(vars), "empty variable store");
  struct stat st {};
  ASSERT_EQ(stat(vars.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600);
  EXPECT_EQ(RunDirFiles(), std::vector<std::string>{"uefi-vars.fd"}) << "no temporary file left";

  // The guest wrote its boot entries: a later start keeps them.
  WriteFile(vars, "Boot0001 debian", 0600);
  WriteFile(dir_ / "VARS.fd", "a newer OVMF's template");
  ASSERT_TRUE(PrepareUefiVars(spec_, std::nullopt).ok());
  EXPECT_EQ(ReadFile(vars), "Boot0001 debian");
}

TEST_F(UefiFirmware, ALinkPlantedInTheRunDirIsNotFollowed) {
  // QEMU's user owns the run_dir and may leave links there for kumod to trip on.
  WriteFile(dir_ / "victim", "precious");
  std::filesystem::create_symlink(dir_ / "victim", run_dir_ + "/uefi-vars.fd.new");
  ASSERT_TRUE(PrepareUefiVars(spec_, std::nullopt).ok());
  EXPECT_EQ(ReadFile(dir_ / "victim"), "precious");
  EXPECT_FALSE(std::filesystem::is_symlink(spec_.paths.uefi_vars()));
  EXPECT_EQ(ReadFile(spec_.paths.uefi_vars()), "empty variable store");
}

TEST_F(UefiFirmware, SomethingThatIsNoVariableStoreIsRefused) {
  WriteFile(dir_ / "VARS.fd", "");
  Status s = PrepareUefiVars(spec_, std::nullopt);
  EXPECT_EQ(s.code(), codes::kHypervisorError);
  EXPECT_NE(s.message().find("not an OVMF variable store"), std::string::npos) << s.message();
  EXPECT_TRUE(RunDirFiles().empty());
}

TEST_F(UefiFirmware, TheStoreBelongsToTheUserQemuRunsAs) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give a file to another user";
  ASSERT_TRUE(PrepareUefiVars(spec_, RunAs{65534, 65534}).ok());
  struct stat st {};
  ASSERT_EQ(stat(spec_.paths.uefi_vars().c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  EXPECT_EQ(st.st_gid, 65534u);
  EXPECT_EQ(st.st_mode & 07777, 0600);
}

}  // namespace
}  // namespace kumo::hypervisor
