// End to end: a real kumod boots a server from an image that names no kernel
// (build/guest-disk-image: kumo's guest on an MBR disk with SYSLINUX), so QEMU
// has no -kernel and the firmware boots the disk's own bootloader.
#include <gtest/gtest.h>

#include <string>

#include "e2e/kumod_harness.h"
#include "support/host_probe.h"

namespace kumo {
namespace {

using testing::json;
using testing::KumodHarness;

constexpr double kBootTimeout = 240;  // TCG on a loaded 2-core CI machine, firmware included

class DiskBoot : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string err;
    ASSERT_TRUE(kumod_.Start(&err, {"--image-dir", KUMO_GUEST_DISK_IMAGE_DIR})) << err;
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "--- kumod log ---\n" << kumod_.log() << "\n";
  }
  std::string ConsoleText(const std::string& name) {
    return kumod_.Call("GET", "/v1/servers/" + name + "/console-log").json().value("text", "");
  }
  KumodHarness kumod_;
};

TEST_F(DiskBoot, AServerBootsWithItsImagesOwnBootloaderStopsAndStarts) {
  std::string out;
  ASSERT_EQ(kumod_.RunCli({"images"}, &out), 0) << out;
  EXPECT_NE(out.find("kumo-guest-disk"), std::string::npos) << out;

  auto created = kumod_.Call("POST", "/v1/servers",
                             {{"name", "own"}, {"image", "kumo-guest-disk"}, {"memory_mib", 192}});
  ASSERT_EQ(created.status, 201) << created.body;
  json s = kumod_.WaitStatus("own", "running", kBootTimeout);
  ASSERT_EQ(s["status"], "running") << s.dump() << "\n" << ConsoleText("own");

  // QEMU was given no kernel: the bootloader on the disk chose it.
  std::string qemu = testing::ProcessCmdline(s["qemu_pid"].get<int64_t>());
  EXPECT_NE(qemu.find("qemu"), std::string::npos);
  EXPECT_EQ(qemu.find(std::string("-kernel") + '\0'), std::string::npos);
  EXPECT_EQ(qemu.find(std::string("-append") + '\0'), std::string::npos);
  std::string console = ConsoleText("own");
  EXPECT_NE(console.find("SYSLINUX"), std::string::npos) << console;
  EXPECT_NE(console.find("Command line: BOOT_IMAGE=/vmlinuz"), std::string::npos) << console;
  auto cmdline = kumod_.Exec("own", {"/bin/cat", "/proc/cmdline"});
  ASSERT_EQ(cmdline.status, 200) << cmdline.body;
  EXPECT_NE(cmdline.json()["stdout"].get<std::string>().find("root=/dev/vda2"), std::string::npos)
      << cmdline.body;

  // A graceful stop through the agent, and a start from the disk again.
  ASSERT_EQ(kumod_.RunCli({"stop", "own", "--wait", "--timeout", "60"}, &out), 0) << out;
  EXPECT_EQ(kumod_.Server("own")["power"], "off");
  EXPECT_TRUE(kumod_.HasEvent("own", "the guest powered off"));
  ASSERT_EQ(kumod_.RunCli({"start", "own", "--wait", "--timeout", "240"}, &out), 0) << out;
  s = kumod_.Server("own");
  EXPECT_EQ(s["status"], "running") << s.dump();
  console = ConsoleText("own");
  size_t first = console.find("SYSLINUX");
  EXPECT_NE(console.find("SYSLINUX", first + 1), std::string::npos) << "booted by SYSLINUX again";
}

}  // namespace
}  // namespace kumo
