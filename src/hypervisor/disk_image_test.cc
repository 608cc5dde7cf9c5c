#include "hypervisor/disk_image.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include "support/child_process.h"

namespace kumo::hypervisor {
namespace {

struct InfoCase {
  const char* what;
  const char* json;
  bool ok;
  const char* message_part;
};

TEST(CheckImageInfo, Table) {
  const std::vector<InfoCase> cases = {
      {"qcow2", R"({"format": "qcow2", "virtual-size": 2147483648})", true, ""},
      {"raw disk", R"({"format": "raw", "virtual-size": 1073741824})", true, ""},
      {"text probed as raw", R"({"format": "raw", "virtual-size": 13})", false, "not a disk image"},
      {"tiny raw", R"({"format": "raw", "virtual-size": 512})", false, "not a disk image"},
      {"vmdk", R"({"format": "vmdk", "virtual-size": 1073741824})", false, "format is vmdk"},
      {"backing file",
       R"({"format": "qcow2", "virtual-size": 1073741824, "backing-filename": "/etc/shadow"})",
       false, "backing file (/etc/shadow)"},
      {"external data file",
       R"({"format": "qcow2", "virtual-size": 1073741824,
           "format-specific": {"type": "qcow2", "data": {"data-file": "/dev/sda"}}})",
       false, "external data file"},
      {"too large", R"({"format": "qcow2", "virtual-size": 9007199254740992})", false, "outside"},
      {"no size", R"({"format": "qcow2"})", false, "no format or virtual size"},
      {"not json", "qemu-img: Could not open", false, "cannot read it"},
  };
  for (const InfoCase& c : cases) {
    Result<DiskImageInfo> info = CheckImageInfo(c.json);
    EXPECT_EQ(info.ok(), c.ok) << c.what << ": " << info.status().ToString();
    if (!c.ok) {
      EXPECT_EQ(info.status().code(), codes::kInvalidArgument) << c.what;
      EXPECT_EQ(info.status().field(), "path") << c.what;
      EXPECT_NE(info.status().message().find(c.message_part), std::string::npos)
          << c.what << ": " << info.status().message();
    }
  }
}

void QemuImg(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"qemu-img"};
  argv.insert(argv.end(), args.begin(), args.end());
  Result<pid_t> pid = SpawnProcess(argv, "/dev/null");
  ASSERT_TRUE(pid.ok());
  int status = 0;
  waitpid(*pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

// Real qemu-img on real files.
TEST(InspectDiskImage, TakesQcow2AndRefusesTextAndBackingFiles) {
  testing::TempDir dir;
  QemuImg({"create", "-q", "-f", "qcow2", dir / "a.qcow2", "3G"});
  Result<DiskImageInfo> a = InspectDiskImage("qemu-img", dir / "a.qcow2", std::nullopt);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->format, "qcow2");
  EXPECT_EQ(a->virtual_size_bytes, int64_t{3} << 30);

  QemuImg({"create", "-q", "-f", "qcow2", "-b", dir / "a.qcow2", "-F", "qcow2", dir / "b.qcow2"});
  Result<DiskImageInfo> b = InspectDiskImage("qemu-img", dir / "b.qcow2", std::nullopt);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("backing file"), std::string::npos) << b.status().message();

  testing::WriteFile(dir / "notes.txt", "hello, world\n");
  Result<DiskImageInfo> t = InspectDiskImage("qemu-img", dir / "notes.txt", std::nullopt);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("not a disk image"), std::string::npos)
      << t.status().message();

  Result<DiskImageInfo> gone = InspectDiskImage("qemu-img", dir / "gone", std::nullopt);
  EXPECT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().code(), codes::kInvalidArgument);
}

}  // namespace
}  // namespace kumo::hypervisor
