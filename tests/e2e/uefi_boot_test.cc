// End to end: a real kumod boots servers of a `firmware: uefi` image
// (build/guest-uefi-disk-image: kumo's guest on a GPT disk whose EFI system
// partition holds GRUB) with OVMF, each with its own variable store (NVRAM)
// that keeps what the guest wrote through reboot, stop/start and a kumod
// restart, and goes with the server. Without OVMF nothing is made.
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "e2e/kumod_harness.h"
#include "support/host_probe.h"

namespace kumo {
namespace {

using testing::json;
using testing::KumodHarness;

constexpr double kBootTimeout = 300;  // TCG on a loaded 2-core machine, OVMF included
constexpr char kImage[] = "kumo-guest-uefi-disk";
// A variable of the test's own (vendor GUID "Kumo…"), as the guest writes it.
constexpr char kVariable[] =
    "/sys/firmware/efi/efivars/KumoTest-4b756d6f-0000-4000-8000-000000000001";

// Mounts efivarfs in the guest, then runs `then` (a shell command).
std::vector<std::string> WithEfivars(const std::string& then) {
  return {"/bin/sh", "-c",
          "grep -q efivarfs /proc/mounts || { insmod /lib/modules/efivarfs.ko; mount -t efivarfs "
          "efivarfs /sys/firmware/efi/efivars; } && " +
              then};
}

class UefiBoot : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(Start({})); }
  void TearDown() override {
    if (HasFailure()) std::cerr << "--- kumod log ---\n" << kumod_.log() << "\n";
  }
  bool Start(const std::vector<std::string>& flags) {
    std::vector<std::string> all = {"--image-dir", KUMO_GUEST_UEFI_DISK_IMAGE_DIR};
    all.insert(all.end(), flags.begin(), flags.end());
    std::string err;
    bool ok = kumod_.Start(&err, all);
    if (!ok) ADD_FAILURE() << err;
    return ok;
  }
  std::string ConsoleText(const std::string& name) {
    return kumod_.Call("GET", "/v1/servers/" + name + "/console-log").json().value("text", "");
  }
  std::string Vars(const std::string& name) {
    return kumod_.state_dir() + "/servers/" + name + "/uefi-vars.fd";
  }
  // Runs a program in the guest once its agent answers. Under TCG on a busy
  // host a guest can miss heartbeats for a while (an EFI variable call holds
  // its one vCPU), the server shows warning, and kumod refuses exec until the
  // agent answers again, as it should.
  testing::HttpResult ExecWhenAnswering(const std::string& name,
                                        const std::vector<std::string>& argv) {
    testing::HttpResult r;
    for (int attempt = 0; attempt < 10; ++attempt) {
      kumod_.WaitStatus(name, "running", 60);
      r = kumod_.Exec(name, argv);
      if (r.status != 409) break;
    }
    return r;
  }
  // What the guest reads back of its variable ("" if it has none).
  std::string ReadVariable(const std::string& name) {
    auto r = ExecWhenAnswering(
        name, WithEfivars(std::string("dd bs=1 skip=4 if=") + kVariable + " 2>/dev/null || true"));
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? r.json()["stdout"].get<std::string>() : "";
  }
  size_t Count(const std::string& text, const std::string& word) {
    size_t n = 0;
    for (size_t at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) ++n;
    return n;
  }
  KumodHarness kumod_;
};

TEST_F(UefiBoot, ServersBootWithOvmfAndKeepTheirOwnNvramUntilDeleted) {
  json image;
  const json images = kumod_.Call("GET", "/v1/images").json()["images"];
  for (const auto& i : images) {
    if (i["name"] == kImage) image = i;
  }
  ASSERT_FALSE(image.is_null()) << "the UEFI image is not registered";
  EXPECT_EQ(image["firmware"], "uefi");

  auto begin = std::chrono::steady_clock::now();
  for (const char* name : {"efi-a", "efi-b"}) {
    auto created = kumod_.Call("POST", "/v1/servers", {{"name", name}, {"image", kImage}});
    ASSERT_EQ(created.status, 201) << created.body;
  }
  json a = kumod_.WaitStatus("efi-a", "running", kBootTimeout);
  ASSERT_EQ(a["status"], "running") << a.dump() << "\n" << ConsoleText("efi-a");
  std::cout << "[ uefi ] create → running (two servers booting at once): "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count()
            << " s" << std::endl;
  json b = kumod_.WaitStatus("efi-b", "running", kBootTimeout);
  ASSERT_EQ(b["status"], "running") << b.dump() << "\n" << ConsoleText("efi-b");

  // QEMU got OVMF's code read-only and the server's own variable store, no kernel.
  std::string qemu = testing::ProcessCmdline(a["qemu_pid"].get<int64_t>());
  EXPECT_NE(qemu.find("if=pflash,format=raw,unit=0,readonly=on,file=/proc/self/fd/"),
            std::string::npos)
      << qemu;
  EXPECT_NE(qemu.find("if=pflash,format=raw,unit=1,file=" + Vars("efi-a") + '\0'),
            std::string::npos)
      << qemu;
  EXPECT_EQ(qemu.find(std::string("-kernel") + '\0'), std::string::npos);
  struct stat va {
  }, vb{}, tmpl{};
  ASSERT_EQ(stat(Vars("efi-a").c_str(), &va), 0);
  ASSERT_EQ(stat(Vars("efi-b").c_str(), &vb), 0);
  ASSERT_EQ(stat("/usr/share/OVMF/OVMF_VARS_4M.fd", &tmpl), 0);
  EXPECT_NE(va.st_ino, vb.st_ino);
  EXPECT_EQ(va.st_size, tmpl.st_size);
  EXPECT_EQ(va.st_mode & 07777, 0600);
  if (geteuid() == 0) {
    passwd* qemu_user = getpwnam("kumo-qemu");
    ASSERT_NE(qemu_user, nullptr);
    EXPECT_EQ(va.st_uid, qemu_user->pw_uid) << "QEMU runs as kumo-qemu and writes the store";
  }

  // The console shows the UEFI boot, and the guest runs under UEFI.
  std::string console = ConsoleText("efi-a");
  EXPECT_NE(console.find("BdsDxe: starting"), std::string::npos) << console;
  EXPECT_NE(console.find("GRUB (UEFI): booting the kumo guest"), std::string::npos) << console;
  EXPECT_NE(console.find("by EDK II"), std::string::npos) << console;  // the kernel's "efi:" line
  auto efi =
      ExecWhenAnswering("efi-a", {"/bin/sh", "-c", "test -d /sys/firmware/efi && echo uefi"});
  ASSERT_EQ(efi.status, 200) << efi.body;
  EXPECT_EQ(efi.json()["stdout"], "uefi\n");

  // The guest writes a variable into its NVRAM (attributes: non-volatile,
  // boot and runtime access), as an OS installer writes its boot entry.
  auto wrote = ExecWhenAnswering(
      "efi-a", WithEfivars(std::string("printf '\\007\\000\\000\\000kumo-a' > ") + kVariable));
  ASSERT_EQ(wrote.status, 200) << wrote.body;
  ASSERT_EQ(wrote.json()["exit_code"], 0) << wrote.body;
  EXPECT_EQ(ReadVariable("efi-a"), "kumo-a");

  // A reboot keeps it.
  std::string out;
  ASSERT_EQ(kumod_.RunCli({"reboot", "efi-a", "--wait", "--timeout", "300"}, &out), 0) << out;
  EXPECT_EQ(ReadVariable("efi-a"), "kumo-a");
  EXPECT_EQ(Count(ConsoleText("efi-a"), "GRUB (UEFI): booting"), 2u) << "GRUB booted it again";

  // Stopped, kumod killed and restarted, started again: still there.
  ASSERT_EQ(kumod_.RunCli({"stop", "efi-a", "--wait", "--timeout", "60"}, &out), 0) << out;
  kumod_.Kill9();
  ASSERT_TRUE(Start({}));
  ASSERT_EQ(kumod_.RunCli({"start", "efi-a", "--wait", "--timeout", "300"}, &out), 0) << out;
  EXPECT_EQ(ReadVariable("efi-a"), "kumo-a");
  EXPECT_EQ(ReadVariable("efi-b"), "") << "the other server's NVRAM is its own";

  // Without OVMF's code, a start is refused, naming the file; nothing changes.
  ASSERT_EQ(kumod_.RunCli({"stop", "efi-b", "--wait", "--timeout", "60"}, &out), 0) << out;
  kumod_.Kill9();
  const std::string missing = kumod_.state_dir() + "-no-ovmf/OVMF_CODE_4M.fd";
  ASSERT_TRUE(Start({"--ovmf-code", missing}));
  auto start = kumod_.Call("POST", "/v1/servers/efi-b/actions", {{"action", "start"}});
  EXPECT_EQ(start.status, 500) << start.body;
  EXPECT_EQ(start.json()["error"]["code"], "HypervisorError");
  EXPECT_NE(start.json()["error"]["message"].get<std::string>().find(missing), std::string::npos)
      << start.body;
  EXPECT_NE(start.json()["error"]["hint"].get<std::string>().find("apt-get install ovmf"),
            std::string::npos)
      << start.body;
  EXPECT_EQ(kumod_.Server("efi-b")["status"], "stopped");
  EXPECT_TRUE(std::filesystem::exists(Vars("efi-b")));

  // Deleting a server deletes its NVRAM, and only its own.
  auto deleted = kumod_.Call("DELETE", "/v1/servers/efi-a?force=true");
  ASSERT_LT(deleted.status, 300) << deleted.body;
  for (int i = 0; i < 200 && !kumod_.Server("efi-a").is_null(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(kumod_.Server("efi-a").is_null());
  EXPECT_FALSE(std::filesystem::exists(Vars("efi-a")));
  EXPECT_FALSE(std::filesystem::exists(kumod_.state_dir() + "/servers/efi-a"));
  EXPECT_TRUE(std::filesystem::exists(Vars("efi-b")));
}

// Without OVMF on the host, a server of a UEFI image is refused at create,
// naming the file and the package, and nothing is left behind.
TEST_F(UefiBoot, AMissingOvmfFileIsAClearErrorAndLeavesNothingBehind) {
  kumod_.Stop();
  const std::string nowhere = kumod_.state_dir() + "-no-ovmf";
  for (const std::string flag : {"--ovmf-code", "--ovmf-vars"}) {
    const std::string missing = nowhere + (flag == "--ovmf-code" ? "/CODE.fd" : "/VARS.fd");
    const size_t warnings = Count(kumod_.log(), "warning: no UEFI firmware at");
    ASSERT_TRUE(Start({flag, missing}));
    EXPECT_EQ(Count(kumod_.log(), "warning: no UEFI firmware at"), warnings + 1)
        << "kumod says at start that UEFI images cannot boot";
    auto created = kumod_.Call("POST", "/v1/servers", {{"name", "x"}, {"image", kImage}});
    EXPECT_EQ(created.status, 500) << created.body;
    json error = created.json()["error"];
    EXPECT_EQ(error["code"], "HypervisorError");
    EXPECT_NE(error["message"].get<std::string>().find(
                  "image '" + std::string(kImage) + "' boots with UEFI, but the UEFI firmware's"),
              std::string::npos)
        << created.body;
    EXPECT_NE(error["message"].get<std::string>().find(missing), std::string::npos) << created.body;
    EXPECT_NE(error["hint"].get<std::string>().find("apt-get install ovmf"), std::string::npos);
    EXPECT_NE(error["hint"].get<std::string>().find(flag), std::string::npos);
    EXPECT_TRUE(kumod_.Server("x").is_null());
    EXPECT_FALSE(std::filesystem::exists(kumod_.state_dir() + "/servers/x"));

    // The CLI says the same and fails.
    std::string out;
    EXPECT_NE(kumod_.RunCli({"create", "x", "--image", kImage}, &out), 0) << out;
    EXPECT_NE(out.find(missing), std::string::npos) << out;
    EXPECT_NE(out.find("apt-get install ovmf"), std::string::npos) << out;
    EXPECT_FALSE(std::filesystem::exists(kumod_.state_dir() + "/servers/x"));
    kumod_.Stop();
  }
}

}  // namespace
}  // namespace kumo
