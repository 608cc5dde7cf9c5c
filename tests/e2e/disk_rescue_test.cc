// End to end: rescue of a server whose image boots from its own disk
// (build/guest-disk-image: SYSLINUX on an MBR disk, root in partition 2).
// A real kumod boots kumo's rescue system (build/guest-rescue-image) with the
// server's disk attached, reports rescue only once the rescue system's agent
// says so, sets a password in the server's disk, and boots the disk again.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "e2e/kumod_harness.h"
#include "support/console_client.h"
#include "support/host_probe.h"

namespace kumo {
namespace {

using testing::ConsoleClient;
using testing::json;
using testing::KumodHarness;
using namespace std::chrono_literals;

constexpr double kBootTimeout = 240;  // TCG on a loaded 2-core CI machine, firmware included

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

class DiskRescue : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string err;
    ASSERT_TRUE(kumod_.Start(&err, {"--image-dir", KUMO_GUEST_DISK_IMAGE_DIR, "--rescue-dir",
                                    KUMO_GUEST_RESCUE_IMAGE_DIR}))
        << err;
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "--- kumod log ---\n" << kumod_.log() << "\n";
  }
  std::string ConsoleText(const std::string& name) {
    return kumod_.Call("GET", "/v1/servers/" + name + "/console-log").json().value("text", "");
  }
  // Polls until the server is running; every record seen running in rescue
  // mode must come with the rescue system's answer in the timeline.
  json WaitRunning(const std::string& name, bool* claimed_early) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(kBootTimeout);
    json s;
    while (std::chrono::steady_clock::now() < end) {
      s = kumod_.Server(name);
      if (s.is_object() && s["status"] == "running") {
        if (s["boot_mode"] == "rescue" &&
            !kumod_.HasEvent(name, "rescue mode: the rescue system's agent answers")) {
          *claimed_early = true;
        }
        return s;
      }
      std::this_thread::sleep_for(200ms);
    }
    return s;
  }
  std::unique_ptr<ConsoleClient> Attach(const std::string& name) {
    return testing::AttachConsole(kumod_.port(), name, kumod_.token());
  }
  KumodHarness kumod_;
};

TEST_F(DiskRescue, RescueShowsTheDiskSetsAPasswordInItAndUnrescueBootsIt) {
  auto t = std::chrono::steady_clock::now();
  auto created =
      kumod_.Call("POST", "/v1/servers",
                  {{"name", "lifeboat"}, {"image", "kumo-guest-disk"}, {"memory_mib", 192}});
  ASSERT_EQ(created.status, 201) << created.body;
  bool early = false;
  json s = WaitRunning("lifeboat", &early);
  ASSERT_EQ(s["status"], "running") << s.dump() << "\n" << ConsoleText("lifeboat");
  std::cerr << "[figure] create -> running (own bootloader): " << SecondsSince(t) << " s\n";
  // Something of the user's on the server's disk, and no password for root.
  auto wrote =
      kumod_.Exec("lifeboat", {"/bin/sh", "-c", "echo keepsake-42 > /root/keepsake; sync"});
  ASSERT_EQ(wrote.status, 200) << wrote.body;
  ASSERT_EQ(wrote.json()["exit_code"], 0) << wrote.body;

  // Rescue: kumo's rescue system boots with the server's disk, no seed.
  t = std::chrono::steady_clock::now();
  auto r = kumod_.Call("POST", "/v1/servers/lifeboat/actions", {{"action", "rescue"}});
  ASSERT_EQ(r.status, 202) << r.body;
  s = WaitRunning("lifeboat", &early);
  ASSERT_EQ(s["status"], "running") << s.dump() << "\n" << ConsoleText("lifeboat");
  std::cerr << "[figure] rescue -> running [rescue]: " << SecondsSince(t) << " s\n";
  EXPECT_FALSE(early) << "reported in rescue before the rescue system's agent said so";
  EXPECT_EQ(s["boot_mode"], "rescue") << s.dump();
  EXPECT_NE(s["status_reason"].get<std::string>().find("rescue system's agent answers"),
            std::string::npos)
      << s.dump();
  std::string qemu = testing::ProcessCmdline(s["qemu_pid"].get<int64_t>());
  EXPECT_NE(qemu.find(std::string("-kernel") + '\0'), std::string::npos);
  EXPECT_NE(qemu.find("kumo.server=lifeboat"), std::string::npos);
  EXPECT_EQ(qemu.find("readonly=on"), std::string::npos) << "the seed disk is attached";

  // The banner (it follows the agent's answer by a moment: it looks at the
  // disk first), and a root shell in which the server's disk can be mounted.
  std::string console;
  for (int i = 0; i < 150; ++i) {
    console = ConsoleText("lifeboat");
    if (console.find("(the server boots from its own disk again)") != std::string::npos) break;
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_NE(console.find("kumo rescue system for server lifeboat"), std::string::npos) << console;
  EXPECT_NE(console.find("/dev/vda2"), std::string::npos) << console;
  EXPECT_NE(console.find("<- its root filesystem"), std::string::npos) << console;
  EXPECT_NE(console.find("kumo unrescue lifeboat"), std::string::npos) << console;
  auto shell = Attach("lifeboat");
  shell->Send("\n");
  ASSERT_TRUE(shell->WaitFor("# ", 30s)) << shell->output();
  EXPECT_NE(shell->Run("ls /sys/block", 10s).find("vda"), std::string::npos) << shell->output();
  // (Short commands: the terminal must not wrap the typed line.)
  shell->Run("mount /dev/vda2 /mnt", 20s);
  EXPECT_NE(shell->Run("cat /mnt/root/keepsake", 10s).find("keepsake-42"), std::string::npos)
      << shell->output();
  EXPECT_NE(shell->Run("umount /mnt; echo unmounted", 20s).find("unmounted"), std::string::npos)
      << shell->output();

  // set-password writes into the server's disk, through the rescue agent.
  const std::string password = "Lifeboat-Pass-7";
  r = kumod_.Call("POST", "/v1/servers/lifeboat/password",
                  {{"user", "root"}, {"password", password}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["set_in"].get<std::string>().find("in the server's own disk"), 0u) << r.body;
  EXPECT_TRUE(kumod_.HasEvent("lifeboat", "password set for user root in the server's own disk"));
  EXPECT_TRUE(shell->WaitFor("kumo-rescue: password set in /dev/vda2", 10s)) << shell->output();
  // A user that the disk does not have: refused, nothing written.
  r = kumod_.Call("POST", "/v1/servers/lifeboat/password",
                  {{"user", "nobody2"}, {"password", password}});
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_TRUE(shell->WaitFor("chpasswd: unknown user 'nobody2'", 10s)) << shell->output();

  // Unrescue: the disk's own bootloader again, and root logs in with it.
  t = std::chrono::steady_clock::now();
  r = kumod_.Call("POST", "/v1/servers/lifeboat/actions", {{"action", "unrescue"}});
  ASSERT_EQ(r.status, 202) << r.body;
  s = WaitRunning("lifeboat", &early);
  ASSERT_EQ(s["status"], "running") << s.dump() << "\n" << ConsoleText("lifeboat");
  std::cerr << "[figure] unrescue -> running (own bootloader): " << SecondsSince(t) << " s\n";
  EXPECT_EQ(s["boot_mode"], "normal");
  qemu = testing::ProcessCmdline(s["qemu_pid"].get<int64_t>());
  EXPECT_EQ(qemu.find(std::string("-kernel") + '\0'), std::string::npos);
  auto login = Attach("lifeboat");
  ASSERT_TRUE(login->Login("root", password, 60s)) << login->output();
  EXPECT_NE(login->Run("cat /root/keepsake", 10s).find("keepsake-42"), std::string::npos)
      << login->output();

  // The password reached neither a log nor the timeline.
  EXPECT_EQ(ConsoleText("lifeboat").find(password), std::string::npos);
  EXPECT_EQ(kumod_.log().find(password), std::string::npos);
  EXPECT_EQ(kumod_.Events("lifeboat").dump().find(password), std::string::npos);
}

}  // namespace
}  // namespace kumo
