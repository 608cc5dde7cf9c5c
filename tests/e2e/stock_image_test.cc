// End to end with the image a new user brings: a stock Debian 12 cloud image
// (build/guest-debian-image, made by guest/debian/build.sh: GRUB on an MBR
// disk, systemd, cloud-init, Debian's qemu-guest-agent, openssh-server). A
// real kumod boots it under TCG and manages it through stock qemu-ga: user
// data through cloud-init, reboot, stop, set-password and the console login,
// an OOM kill diagnosed from the console, the ACPI stop while the agent is
// down, the same disk booted with UEFI (OVMF), and its rescue with kumo's
// rescue system. Each test prints "figure: ..." lines for the report.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <iostream>
#include <thread>

#include "common/base64.h"
#include "e2e/kumod_harness.h"
#include "support/child_process.h"
#include "support/console_client.h"

namespace kumo {
namespace {

using testing::json;
using testing::KumodHarness;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr double kBootTimeout = 600;  // a whole Debian under TCG on a loaded 2-core CI machine
// Two vCPUs: QEMU's multi-threaded TCG boots a whole Debian in about 45 s on an
// idle 2-core host, where one vCPU takes minutes once the host is busy.
constexpr int kVcpus = 2;
constexpr int kMemoryMib = 1024;

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

class StockImage : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string err;
    // A whole Debian boots and shuts down slower than kumo's guest under TCG.
    ASSERT_TRUE(kumod_.Start(
        &err, {"--image-dir", KUMO_DEBIAN_IMAGE_DIR, "--rescue-dir", KUMO_GUEST_RESCUE_IMAGE_DIR,
               "--boot-timeout", "600", "--stop-timeout", "120"}))
        << err;
  }
  void TearDown() override {
    if (HasFailure()) {
      std::string log = kumod_.log();
      std::cerr << "--- kumod log (end) ---\n"
                << log.substr(log.size() > 20000 ? log.size() - 20000 : 0) << "\n";
    }
  }

  // Creates a server of the stock image and waits until it is running, that
  // is until stock qemu-ga answers kumod's heartbeat.
  json Create(const std::string& name, const std::string& user_data = "",
              const std::string& image = "debian-12") {
    json body = {{"name", name}, {"image", image}, {"vcpus", kVcpus}, {"memory_mib", kMemoryMib}};
    if (!user_data.empty()) body["user_data"] = user_data;
    auto start = Clock::now();
    auto r = kumod_.Call("POST", "/v1/servers", body);
    EXPECT_EQ(r.status, 201) << r.body;
    json s = kumod_.WaitStatus(name, "running", kBootTimeout);
    EXPECT_EQ(s["status"], "running") << s.dump() << "\n" << ConsoleTail(name);
    std::cout << "figure: " << name << ": create -> running in " << SecondsSince(start)
              << " s (TCG)" << std::endl;
    return s;
  }

  std::string ConsoleTail(const std::string& name) {
    std::string text =
        kumod_.Call("GET", "/v1/servers/" + name + "/console-log").json().value("text", "");
    return "--- console (end) ---\n" + text.substr(text.size() > 6000 ? text.size() - 6000 : 0);
  }

  // Runs argv in the guest; its stdout, or "" (with *exit_code -1) when the
  // exec itself failed.
  std::string Run(const std::string& name, const std::vector<std::string>& argv,
                  int* exit_code = nullptr) {
    auto r = kumod_.Exec(name, argv);
    json j = r.json();
    if (exit_code) *exit_code = r.status == 200 ? j.value("exit_code", -1) : -1;
    return r.status == 200 ? j.value("stdout", "") : "";
  }

  // Polls `done` every 2 s until it holds or `timeout_s` passes.
  static bool Eventually(double timeout_s, const std::function<bool()>& done) {
    auto start = Clock::now();
    while (!done()) {
      if (SecondsSince(start) > timeout_s) return false;
      std::this_thread::sleep_for(2s);
    }
    return true;
  }

  // cloud-init finished its last stage (boot-finished); returns its result
  // (/run/cloud-init/result.json). Polled with test and cat: `cloud-init
  // status` is a Python program that spins for minutes under TCG here (and
  // kumod's exec cannot wait for `cloud-init status --wait`).
  std::string WaitCloudInit(const std::string& name) {
    Eventually(kBootTimeout, [&] {
      int code = -1;
      Run(name, {"/usr/bin/test", "-e", "/var/lib/cloud/instance/boot-finished"}, &code);
      return code == 0;
    });
    return Run(name, {"/bin/cat", "/run/cloud-init/result.json"});
  }

  KumodHarness kumod_;
};

TEST_F(StockImage, CloudConfigIsAppliedThenRebootAndGracefulStopWorkThroughQemuGa) {
  const std::string user_data =
      "#cloud-config\n"
      "hostname: stocky\n"
      "write_files:\n"
      "  - path: /etc/kumo-e2e.txt\n"
      "    content: written by cloud-init\n"
      "runcmd:\n"
      "  - echo \"runcmd ran as $(id -un)\" > /var/tmp/runcmd.txt\n";
  json s = Create("deb", user_data);
  ASSERT_EQ(s["status"], "running");

  auto start = Clock::now();
  json result = json::parse(WaitCloudInit("deb"), nullptr, false);
  std::cout << "figure: deb: cloud-init done " << SecondsSince(start) << " s after running"
            << std::endl;
  ASSERT_TRUE(result.is_object()) << ConsoleTail("deb");
  EXPECT_EQ(result["v1"]["errors"], json::array()) << result.dump();
  EXPECT_NE(result["v1"]["datasource"].get<std::string>().find("DataSourceNoCloud"),
            std::string::npos)
      << "cloud-init read kumod's seed: " << result.dump();
  EXPECT_EQ(Run("deb", {"/bin/cat", "/etc/kumo-e2e.txt"}), "written by cloud-init");
  EXPECT_EQ(Run("deb", {"/bin/cat", "/var/tmp/runcmd.txt"}), "runcmd ran as root\n");
  EXPECT_EQ(Run("deb", {"/bin/hostname"}), "stocky\n");

  // Reboot: the guest goes down and comes back with a new boot id.
  std::string boot_id = Run("deb", {"/bin/cat", "/proc/sys/kernel/random/boot_id"});
  ASSERT_FALSE(boot_id.empty());
  start = Clock::now();
  auto reboot = kumod_.Call("POST", "/v1/servers/deb/actions", {{"action", "reboot"}});
  ASSERT_EQ(reboot.status, 202) << reboot.body;
  ASSERT_TRUE(Eventually(
      kBootTimeout,
      [&] {
        std::string now = Run("deb", {"/bin/cat", "/proc/sys/kernel/random/boot_id"});
        return !now.empty() && now != boot_id && kumod_.Server("deb")["status"] == "running";
      }))
      << kumod_.Server("deb").dump() << "\n"
      << ConsoleTail("deb");
  std::cout << "figure: deb: reboot -> running in " << SecondsSince(start) << " s" << std::endl;
  EXPECT_EQ(Run("deb", {"/bin/hostname"}), "stocky\n") << "the host name holds after a reboot";

  // A graceful stop through qemu-ga (guest-shutdown): the guest powers off.
  std::string out;
  start = Clock::now();
  ASSERT_EQ(kumod_.RunCli({"stop", "deb", "--wait", "--timeout", "180"}, &out), 0)
      << out << "\n"
      << ConsoleTail("deb");
  std::cout << "figure: deb: graceful stop took " << SecondsSince(start) << " s" << std::endl;
  s = kumod_.Server("deb");
  EXPECT_EQ(s["status"], "stopped") << s.dump();
  EXPECT_TRUE(kumod_.HasEvent("deb", "the guest powered off")) << kumod_.Events("deb").dump();
  EXPECT_FALSE(kumod_.HasEvent("deb", "stopped (forced)"));
}

// The finding with `code` in a diagnosis, or null.
json FindingOf(const json& diagnosis, const std::string& code) {
  for (const auto& f : diagnosis.value("findings", json::array())) {
    if (f.value("code", "") == code) return f;
  }
  for (const auto& c : diagnosis.value("checks", json::array())) {
    if (c.value("code", "") == code) return c;
  }
  return nullptr;
}

TEST_F(StockImage, SetPasswordForTheLoginUserThenConsoleLoginAndWhatNeedsKumoAgentSaysSo) {
  json s = Create("pw", "#cloud-config\nhostname: pwhost\n");
  ASSERT_EQ(s["status"], "running");

  // The image says who logs in and which agent it has.
  json image, images = kumod_.Call("GET", "/v1/images").json();
  for (const auto& i : images.value("images", json::array())) {
    if (i["name"] == "debian-12") image = i;
  }
  EXPECT_EQ(image["agent_kind"], "qemu-ga") << image.dump();
  EXPECT_EQ(image["login_user"], "debian") << image.dump();
  EXPECT_EQ(image["firmware"], "bios") << image.dump();
  // kumo-init-status is kumo-agent's: the timeline says so instead of failing
  // (once guest-info said which agent answers, just after the boot's end).
  EXPECT_TRUE(Eventually(60, [&] {
    return kumod_.HasEvent("pw",
                           "init status not available: the image's agent is qemu-ga "
                           "(kumo-init-status needs kumo-agent)");
  })) << kumod_.Events("pw").dump();

  // cloud-init creates the login user (password locked) during the boot.
  ASSERT_TRUE(Eventually(kBootTimeout, [&] {
    int code = -1;
    Run("pw", {"/usr/bin/id", "debian"}, &code);
    return code == 0;
  })) << ConsoleTail("pw");
  EXPECT_NE(Run("pw", {"/usr/bin/passwd", "-S", "debian"}).find("debian L "), std::string::npos)
      << "no password login until one is set";

  auto set = kumod_.Call("POST", "/v1/servers/pw/password",
                         {{"user", "debian"}, {"password", "Stock-Pass-5"}});
  ASSERT_EQ(set.status, 200) << set.body;
  EXPECT_TRUE(kumod_.HasEvent("pw", "password set for user debian"));

  auto console = testing::AttachConsole(kumod_.port(), "pw", kumod_.token());
  ASSERT_TRUE(console->Login("debian", "Stock-Pass-5", 120s, "$ ")) << console->output();
  // (bash turns bracketed paste off before each command's output: search, not compare.)
  std::string out = console->Run("id -un", 30s);
  EXPECT_NE(out.find("debian\r\n"), std::string::npos) << out;
  out = console->Run("sudo -n id -un", 30s);
  EXPECT_NE(out.find("root\r\n"), std::string::npos) << "the default user may sudo: " << out;
  out = console->Run("hostname", 30s);
  EXPECT_NE(out.find("pwhost\r\n"), std::string::npos) << out;

  // kumo-health is kumo-agent's too: the diagnosis says it is not available.
  json d = kumod_.Call("GET", "/v1/servers/pw/diagnosis").json();
  json memory = FindingOf(d, "memory_pressure");
  ASSERT_FALSE(memory.is_null()) << d.dump(2);
  EXPECT_NE(memory.dump().find("not available: the image's agent is qemu-ga (kumo-health needs "
                               "kumo-agent)"),
            std::string::npos)
      << memory.dump(2);
}

// One boot for two stories an operator meets on a stock image: a process
// killed by the OOM killer (read from the console: there is no kumo-health),
// then the agent gone while the guest lives, where only the power button
// stops it short of a force stop.
TEST_F(StockImage, AnOomKillIsDiagnosedThenWithTheAgentStoppedStopAcpiPowersItOff) {
  json s = Create("oom");
  ASSERT_EQ(s["status"], "running");

  // tail keeps an endless line of /dev/zero in memory; its unit may have 64 MiB.
  auto hog = kumod_.Exec("oom", {"/usr/bin/systemd-run", "--unit=hog", "-p", "MemoryMax=64M", "-p",
                                 "MemorySwapMax=0", "/usr/bin/tail", "/dev/zero"});
  ASSERT_EQ(hog.status, 200) << hog.body;
  json oom;
  auto start = Clock::now();
  ASSERT_TRUE(Eventually(120,
                         [&] {
                           oom = FindingOf(kumod_.Call("GET", "/v1/servers/oom/diagnosis").json(),
                                           "oom_kill");
                           return oom.contains("summary");  // a finding, not a clear check
                         }))
      << oom.dump(2) << "\n"
      << ConsoleTail("oom");
  std::cout << "figure: oom: oom_kill found " << SecondsSince(start) << " s after the hog started"
            << std::endl;
  EXPECT_NE(oom.value("summary", "").find("the OOM killer killed tail (pid "), std::string::npos)
      << oom.dump(2);
  // A kill inside a memory-limited unit while the agent answers: a warning.
  EXPECT_EQ(oom["severity"], "warning") << oom.dump(2);
  bool console_evidence = false;
  for (const auto& e : oom.value("evidence", json::array())) {
    if (e.value("source", "") == "console" &&
        e.value("text", "").find("Killed process") != std::string::npos) {
      console_evidence = true;
    }
  }
  EXPECT_TRUE(console_evidence) << oom.dump(2);
  EXPECT_EQ(kumod_.Server("oom")["status"], "running") << "qemu-ga was not the victim";

  // qemu-ga serves the exec: it is stopped a moment later, from a unit of its own.
  auto stopped = kumod_.Exec("oom", {"/usr/bin/systemd-run", "--on-active=2", "--no-block",
                                     "/usr/bin/systemctl", "stop", "qemu-guest-agent"});
  ASSERT_EQ(stopped.status, 200) << stopped.body;
  start = Clock::now();
  s = kumod_.WaitStatus("oom", "warning", 60);
  ASSERT_EQ(s["status"], "warning") << s.dump();
  std::cout << "figure: oom: warning " << SecondsSince(start) << " s after the agent stop was "
            << "scheduled (2 s ahead)" << std::endl;
  EXPECT_NE(s["status_reason"].get<std::string>().find("guest agent not responding since"),
            std::string::npos)
      << s.dump();

  auto stop = kumod_.Call("POST", "/v1/servers/oom/actions", {{"action", "stop"}});
  ASSERT_EQ(stop.status, 409) << stop.body;
  EXPECT_EQ(stop.json()["error"]["code"], "GuestAgentNotResponding") << stop.body;
  EXPECT_NE(stop.json()["error"]["hint"].get<std::string>().find("kumo stop --acpi oom"),
            std::string::npos)
      << stop.body;
  EXPECT_EQ(kumod_.Server("oom")["power"], "running") << "nothing changed";

  // The power button: systemd-logind powers the guest off.
  start = Clock::now();
  auto acpi = kumod_.Call("POST", "/v1/servers/oom/actions", {{"action", "stop"}, {"acpi", true}});
  ASSERT_EQ(acpi.status, 202) << acpi.body;
  s = kumod_.WaitStatus("oom", "stopped", 180);
  EXPECT_EQ(s["status"], "stopped") << s.dump() << "\n" << ConsoleTail("oom");
  std::cout << "figure: oom: powered off " << SecondsSince(start) << " s after the press"
            << std::endl;
  EXPECT_TRUE(kumod_.HasEvent("oom", "power button pressed (ACPI)"));
  EXPECT_FALSE(kumod_.HasEvent("oom", "stopped (forced)")) << "it was not forced";
  std::string console = kumod_.Call("GET", "/v1/servers/oom/console-log").json().value("text", "");
  EXPECT_NE(console.find("reboot: Power down"), std::string::npos) << ConsoleTail("oom");
}

// The same disk imported as a UEFI image (its ESP holds GRUB at the removable
// path): OVMF boots it and cloud-init runs. Then the user who forgot the
// password: kumo's rescue system with the server's disk, a password written
// into it, unrescue, and a console login with it.
TEST_F(StockImage, TheDiskBootsWithUefiAndRescueSetsAPasswordTheUserLogsInWith) {
  const std::string disk =
      std::filesystem::canonical(std::string(KUMO_DEBIAN_IMAGE_DIR) + "/disk.qcow2");
  auto imported = kumod_.Call("POST", "/v1/images",
                              {{"name", "debian-12-uefi"},
                               {"path", disk},
                               {"firmware", "uefi"},
                               {"agent_kind", "qemu-ga"},
                               {"login_user", "debian"},
                               {"os", "debian-12"}});
  ASSERT_EQ(imported.status, 201) << imported.body;
  json s = Create("efi", "#cloud-config\nhostname: efihost\n", "debian-12-uefi");
  ASSERT_EQ(s["status"], "running");
  std::string console = kumod_.Call("GET", "/v1/servers/efi/console-log").json().value("text", "");
  EXPECT_NE(console.find("efi: EFI v"), std::string::npos) << "the kernel booted from UEFI\n"
                                                           << ConsoleTail("efi");
  int code = -1;
  Run("efi", {"/usr/bin/test", "-d", "/sys/firmware/efi"}, &code);
  EXPECT_EQ(code, 0) << "the guest sees UEFI";
  ASSERT_TRUE(Eventually(kBootTimeout,
                         [&] {
                           return Run("efi", {"/bin/hostname"}) == "efihost\n" &&
                                  !Run("efi", {"/usr/bin/id", "-un", "debian"}).empty();
                         }))
      << "cloud-init set the host name and made the login user\n"
      << ConsoleTail("efi");
  auto wrote = kumod_.Exec("efi", {"/bin/sh", "-c", "echo keepsake-9 > /var/tmp/keepsake; sync"});
  ASSERT_EQ(wrote.status, 200) << wrote.body;

  // Rescue: reported once the rescue system's agent says so; the banner
  // finds the root filesystem in partition 2 (partition 1 is the ESP).
  auto start = Clock::now();
  auto r = kumod_.Call("POST", "/v1/servers/efi/actions", {{"action", "rescue"}});
  ASSERT_EQ(r.status, 202) << r.body;
  s = kumod_.WaitStatus("efi", "running", kBootTimeout);
  ASSERT_EQ(s["status"], "running") << s.dump() << "\n" << ConsoleTail("efi");
  std::cout << "figure: efi: rescue -> running [rescue] in " << SecondsSince(start) << " s"
            << std::endl;
  EXPECT_EQ(s["boot_mode"], "rescue") << s.dump();
  EXPECT_TRUE(kumod_.HasEvent("efi", "rescue mode: the rescue system's agent answers"));
  ASSERT_TRUE(Eventually(60, [&] {
    return ConsoleTail("efi").find("(the server boots from its own disk again)") !=
           std::string::npos;
  })) << ConsoleTail("efi");
  console = ConsoleTail("efi");
  EXPECT_NE(console.find("/dev/vda2"), std::string::npos) << console;
  EXPECT_NE(console.find("<- its root filesystem"), std::string::npos) << console;
  auto shell = testing::AttachConsole(kumod_.port(), "efi", kumod_.token());
  shell->Send("\n");
  ASSERT_TRUE(shell->WaitFor("# ", 30s)) << shell->output();
  shell->Run("mount /dev/vda2 /mnt", 30s);
  EXPECT_NE(shell->Run("cat /mnt/var/tmp/keepsake", 10s).find("keepsake-9"), std::string::npos)
      << "the server's own disk, as the user left it\n"
      << shell->output();
  EXPECT_NE(shell->Run("umount /mnt; echo unmounted", 30s).find("unmounted"), std::string::npos)
      << shell->output();

  const std::string password = "Efi-Rescue-Pass-3";
  r = kumod_.Call("POST", "/v1/servers/efi/password", {{"user", "debian"}, {"password", password}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["set_in"].get<std::string>().find("in the server's own disk"), 0u) << r.body;

  // Unrescue: OVMF and the disk's GRUB again; the user logs in with it.
  start = Clock::now();
  r = kumod_.Call("POST", "/v1/servers/efi/actions", {{"action", "unrescue"}});
  ASSERT_EQ(r.status, 202) << r.body;
  ASSERT_TRUE(Eventually(kBootTimeout,
                         [&] {
                           json now = kumod_.Server("efi");
                           return now["status"] == "running" && now["boot_mode"] == "normal";
                         }))
      << kumod_.Server("efi").dump() << "\n"
      << ConsoleTail("efi");
  std::cout << "figure: efi: unrescue -> running in " << SecondsSince(start) << " s" << std::endl;
  auto login = testing::AttachConsole(kumod_.port(), "efi", kumod_.token());
  ASSERT_TRUE(login->Login("debian", password, 120s, "$ ")) << login->output();
  EXPECT_NE(login->Run("id -un", 30s).find("debian\r\n"), std::string::npos) << login->output();
  EXPECT_EQ(kumod_.log().find(password), std::string::npos) << "the password is in no log";
}

// A user puts kumo-agent into the stock image from its Debian package in
// place of qemu-ga (docs/agent.md): the package goes in through exec, dpkg
// installs it, and its unit replaces qemu-ga's on the same port. kumod asks
// the agent that reopens the channel which it is, from then on gets
// kumo-health from it (the diagnosis's guest figures), and after a reboot the
// init status: cloud-init's stages, read by kumo-agent.
TEST_F(StockImage, TheKumoAgentPackageReplacesQemuGaThenKumoHealthAndInitStatusWork) {
  json s = Create("pkg", "#cloud-config\nhostname: pkghost\n");
  ASSERT_EQ(s["status"], "running");
  WaitCloudInit("pkg");

  // The package, through exec's stdin in base64 chunks (an API body is at
  // most 256 KiB).
  const std::string deb = testing::ReadFile(KUMO_AGENT_DEB);
  ASSERT_GT(deb.size(), 100000u) << KUMO_AGENT_DEB;
  constexpr size_t kChunk = 96 * 1024;
  for (size_t at = 0; at < deb.size(); at += kChunk) {
    auto r = kumod_.Call("POST", "/v1/servers/pkg/exec",
                         {{"path", "/bin/sh"},
                          {"args", {"-c", "base64 -d >> /var/tmp/kumo-agent.deb"}},
                          {"input", Base64Encode(std::string_view(deb).substr(at, kChunk))}});
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_EQ(r.json()["exit_code"], 0) << r.body;
  }
  EXPECT_EQ(Run("pkg", {"/usr/bin/stat", "-c", "%s", "/var/tmp/kumo-agent.deb"}),
            std::to_string(deb.size()) + "\n");
  // Installed a little later, by systemd: the exec answers through the qemu-ga
  // that the new unit stops (Conflicts=qemu-guest-agent.service).
  int code = -1;
  Run("pkg",
      {"/usr/bin/systemd-run", "--on-active=2", "--unit=kumo-agent-install", "/bin/sh", "-c",
       "dpkg -i /var/tmp/kumo-agent.deb && systemctl mask qemu-guest-agent && "
       "systemctl enable kumo-agent && systemctl start kumo-agent"},
      &code);
  ASSERT_EQ(code, 0);
  auto start = Clock::now();
  ASSERT_TRUE(Eventually(180, [&] {
    return kumod_.HasEvent("pkg", "the guest's agent is kumo-agent");
  })) << kumod_.Events("pkg").dump(2) << "\n" << ConsoleTail("pkg");
  std::cout << "figure: pkg: kumo-agent found " << SecondsSince(start) << " s after the install"
            << std::endl;
  EXPECT_EQ(Run("pkg", {"/usr/bin/systemctl", "is-active", "kumo-agent"}), "active\n");

  // kumo-health: the diagnosis reads the guest's memory from it.
  json memory;
  ASSERT_TRUE(Eventually(120, [&] {
    memory = FindingOf(kumod_.Call("GET", "/v1/servers/pkg/diagnosis").json(), "memory_pressure");
    return memory.dump().find(" available of ") != std::string::npos;
  })) << memory.dump(2);

  // A reboot: kumo-agent starts with the boot, and its init status is
  // cloud-init's stages.
  std::string boot_id = Run("pkg", {"/bin/cat", "/proc/sys/kernel/random/boot_id"});
  auto reboot = kumod_.Call("POST", "/v1/servers/pkg/actions", {{"action", "reboot"}});
  ASSERT_EQ(reboot.status, 202) << reboot.body;
  ASSERT_TRUE(Eventually(kBootTimeout, [&] {
    std::string now = Run("pkg", {"/bin/cat", "/proc/sys/kernel/random/boot_id"});
    return !now.empty() && now != boot_id && kumod_.Server("pkg")["status"] == "running";
  })) << kumod_.Server("pkg").dump() << "\n" << ConsoleTail("pkg");
  ASSERT_TRUE(Eventually(kBootTimeout, [&] {
    return kumod_.HasEvent("pkg", "cloud-init stage modules-final finished without errors");
  })) << kumod_.Events("pkg").dump(2);
  EXPECT_EQ(Run("pkg", {"/bin/hostname"}), "pkghost\n");
}

// The same disk imported as an image without an agent (agent kind none), as
// for an OS that runs none: kumod cannot know when the guest is up, so the
// server is running once QEMU runs, with the agent "none" and no warning;
// what needs an agent says so; reboot and stop go through the ACPI power
// button, which the guest (systemd-logind) obeys.
TEST_F(StockImage, AnImageWithoutAnAgentRunsOnQemusWordAndStopsAndRebootsByThePowerButton) {
  const std::string disk =
      std::filesystem::canonical(std::string(KUMO_DEBIAN_IMAGE_DIR) + "/disk.qcow2");
  std::string out;
  ASSERT_EQ(kumod_.RunCli({"images", "import", "debian-12-plain", disk, "--agent-kind", "none",
                           "--login-user", "debian"},
                          &out),
            0)
      << out;
  json s = Create("plain", "", "debian-12-plain");
  ASSERT_EQ(s["status"], "running");
  EXPECT_EQ(s["agent"], "none") << s.dump();
  EXPECT_TRUE(kumod_.HasEvent("plain", "the server runs no guest agent, so kumo cannot tell"))
      << kumod_.Events("plain").dump();

  // What needs an agent is refused with the way round, and nothing changes.
  auto exec = kumod_.Exec("plain", {"/bin/true"});
  EXPECT_EQ(exec.status, 409) << exec.body;
  EXPECT_NE(exec.body.find("runs no guest agent (its image debian-12-plain has agent kind none)"),
            std::string::npos)
      << exec.body;
  EXPECT_NE(exec.body.find("kumo console plain"), std::string::npos) << exec.body;
  auto password = kumod_.Call("POST", "/v1/servers/plain/password",
                              {{"user", "debian"}, {"password", "Plain-Pass-1"}});
  EXPECT_EQ(password.status, 409) << password.body;
  EXPECT_NE(password.body.find("kumo rescue plain"), std::string::npos) << password.body;

  // The guest boots to its login prompt; kumod never calls it a warning.
  auto logins = [&] {
    std::string text =
        kumod_.Call("GET", "/v1/servers/plain/console-log").json().value("text", "");
    size_t n = 0;
    for (size_t at = text.find("login: "); at != std::string::npos;
         at = text.find("login: ", at + 1)) {
      ++n;
    }
    return n;
  };
  auto start = Clock::now();
  ASSERT_TRUE(Eventually(kBootTimeout, [&] { return logins() >= 1; })) << ConsoleTail("plain");
  std::cout << "figure: plain: login prompt " << SecondsSince(start) << " s after running"
            << std::endl;
  s = kumod_.Server("plain");
  EXPECT_EQ(s["status"], "running") << s.dump();
  json d = kumod_.Call("GET", "/v1/servers/plain/diagnosis").json();
  for (const char* code : {"agent_unresponsive", "agent_missing", "boot_stuck"}) {
    for (const auto& f : d.value("findings", json::array())) {
      EXPECT_NE(f.value("code", ""), code) << d.dump(2);
    }
  }

  // A graceful reboot: the power button, then a new QEMU.
  const json pid_before = s["qemu_pid"];
  start = Clock::now();
  auto reboot = kumod_.Call("POST", "/v1/servers/plain/actions", {{"action", "reboot"}});
  ASSERT_EQ(reboot.status, 202) << reboot.body;
  ASSERT_TRUE(Eventually(kBootTimeout, [&] {
    json now = kumod_.Server("plain");
    return now["status"] == "running" && now["qemu_pid"] != pid_before;
  })) << kumod_.Server("plain").dump() << "\n" << ConsoleTail("plain");
  std::cout << "figure: plain: reboot (power button, new QEMU) -> running in "
            << SecondsSince(start) << " s" << std::endl;
  EXPECT_TRUE(kumod_.HasEvent("plain", "reboot requested: the server runs no guest agent"));
  EXPECT_FALSE(kumod_.HasEvent("plain", "forcing it off")) << kumod_.Events("plain").dump();
  ASSERT_TRUE(Eventually(kBootTimeout, [&] { return logins() >= 2; })) << ConsoleTail("plain");

  // A graceful stop: the power button, and the guest powers off.
  start = Clock::now();
  ASSERT_EQ(kumod_.RunCli({"stop", "plain", "--wait", "--timeout", "180"}, &out), 0)
      << out << "\n"
      << ConsoleTail("plain");
  std::cout << "figure: plain: stop (power button) took " << SecondsSince(start) << " s"
            << std::endl;
  EXPECT_EQ(kumod_.Server("plain")["status"], "stopped");
  EXPECT_TRUE(kumod_.HasEvent("plain", "graceful stop requested: the server runs no guest agent"));
  EXPECT_TRUE(kumod_.HasEvent("plain", "the guest powered off")) << kumod_.Events("plain").dump();
  EXPECT_FALSE(kumod_.HasEvent("plain", "stopped (forced)"));
}

}  // namespace
}  // namespace kumo
