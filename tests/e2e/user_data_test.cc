// End to end: user data reaches a real guest through a NoCloud seed disk built
// by kumo_cloudinit (WriteSeed + BuildSeedImage), attached the way kumod
// attaches it (a read-only virtio disk). The kumo image's kumo-init applies a
// #cloud-config (host name, root's password, SSH keys, a user, runcmd) and
// runs `#!` scripts once per instance (or at every boot when marked); the test
// checks the guest through the agent, reads kumo-init-status, and boots the
// same disk again to see what runs a second time.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <thread>

#include "cloudinit/seed.h"
#include "cloudinit/seed_image.h"
#include "common/base64.h"
#include "e2e/guest_vm.h"
#include "guestlink/qga_client.h"
#include "support/child_process.h"

namespace kumo {
namespace {

using guestlink::json;
using guestlink::QgaClient;
using guestlink::QgaReply;
using testing::ChildProcess;
using testing::ReadFile;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr char kCreateKey[] = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKumoCreateKey create@host";

// The guest with its NoCloud seed, as kumod would boot a server.
class SeededGuest : public testing::GuestVm {
 public:
  bool MakeSeed(const cloudinit::SeedInput& in, std::string* err) {
    Status s = cloudinit::WriteSeed(in, path("seed"));
    if (s.ok()) s = cloudinit::BuildSeedImage(path("seed"), path("seed.iso"));
    if (!s.ok()) *err = s.ToString();
    return s.ok();
  }
  bool Start(int boot, bool with_seed, std::string* err) {
    return GuestVm::Start(boot, with_seed ? path("seed.iso") : "", err);
  }
};

class UserData : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure()) std::cerr << "--- guest console ---\n" << vm_.serial_log() << "\n";
  }

  // Boots (again) and waits for the agent.
  void Boot(int boot, bool with_seed = true) {
    std::string err;
    if (boot == 1) {
      ASSERT_TRUE(vm_.CreateDisk(&err)) << err;
    }
    ASSERT_TRUE(vm_.Start(boot, with_seed, &err)) << err;
    agent_.Close();
    ASSERT_TRUE(agent_.Connect(vm_.agent_socket(), Clock::now() + 30s, &err)) << err;
    ASSERT_TRUE(agent_.Sync(Clock::now() + 90s)) << "agent never answered";
    std::cout << "boot " << boot << ": agent answered " << vm_.seconds_since_start()
              << " s after QEMU started\n";
  }

  // Powers the guest off cleanly (its disk is used again) and waits for QEMU.
  void PowerOff() {
    ASSERT_TRUE(agent_.SendRaw(R"({"execute":"guest-shutdown"})"));
    int status = vm_.qemu().WaitExit(60s);
    ASSERT_NE(status, -1) << "QEMU still running 60 s after guest-shutdown";
    agent_.Close();
  }

  QgaReply Call(const std::string& cmd, const json& args = json()) {
    return agent_.Call(cmd, args, Clock::now() + 20s);
  }

  // Polls kumo-init-status until kumo-init has finished.
  json WaitForInit() {
    json last;
    for (int i = 0; i < 600; ++i) {
      auto r = Call("kumo-init-status");
      EXPECT_TRUE(r.ok) << r.error_class << ": " << r.error_desc;
      if (!r.ok) return json();
      last = r.value;
      if (last["finished"] == true) {
        std::cout << "kumo-init finished " << vm_.seconds_since_start()
                  << " s after QEMU started\n";
        return last;
      }
      std::this_thread::sleep_for(100ms);
    }
    ADD_FAILURE() << "kumo-init did not finish: " << last.dump();
    return last;
  }

  // Runs a program in the guest; returns {exit code, stdout}.
  std::pair<int, std::string> Exec(const std::string& path, const std::vector<std::string>& args,
                                   const std::string& input = "") {
    json request = {{"path", path}, {"arg", args}, {"capture-output", true}};
    if (!input.empty()) request["input-data"] = Base64Encode(input);
    auto r = Call("guest-exec", request);
    EXPECT_TRUE(r.ok) << r.error_desc;
    if (!r.ok) return {-1, ""};
    for (int i = 0; i < 300; ++i) {
      auto s = Call("guest-exec-status", {{"pid", r.value["pid"]}});
      EXPECT_TRUE(s.ok) << s.error_desc;
      if (!s.ok) return {-1, ""};
      if (s.value["exited"].get<bool>()) {
        std::string out;
        if (s.value.contains("out-data"))
          out = *Base64Decode(s.value["out-data"].get<std::string>());
        return {s.value.value("exitcode", -1), out};
      }
      std::this_thread::sleep_for(100ms);
    }
    ADD_FAILURE() << path << " did not finish";
    return {-1, ""};
  }

  std::string Cat(const std::string& file) { return Exec("/bin/cat", {file}).second; }

  // step name -> exit code, in order, as "name=code " pairs.
  static std::string Steps(const json& status) {
    std::string out;
    for (const auto& s : status["ran"]) {
      out += s["step"].get<std::string>() + "=" + std::to_string(s["exit_code"].get<int>()) + " ";
    }
    return out;
  }

  SeededGuest vm_;
  QgaClient agent_;
};

TEST_F(UserData, CloudConfigSetsHostnamePasswordKeysAndRunsRuncmd) {
  const std::string password = "Kumo pass: 'quoted' $x";
  const std::string user_data = R"yaml(#cloud-config
hostname: kumo-ud
password: "Kumo pass: 'quoted' $x"
ssh_authorized_keys:
  - ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCkumoConfigKey config@host
users:
  - default
  - name: deploy
    ssh_authorized_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDeployKey deploy@host"]
runcmd:
  - echo "runcmd ran on $(hostname)" > /root/runcmd-marker
  - [sh, -c, 'printf "%s|" "$@" > /root/argv-marker', sh, "a b", "$HOME", ";"]
  - echo to the console; exit 7
packages: [nginx]
)yaml";
  std::string err;
  ASSERT_TRUE(vm_.MakeSeed({"i-cloud-config-1", "web", user_data, kCreateKey}, &err)) << err;
  Boot(1);
  json status = WaitForInit();
  EXPECT_EQ(status["instance_id"], "i-cloud-config-1");
  EXPECT_EQ(status["seed"], true);
  EXPECT_EQ(status["first_boot"], true);
  EXPECT_EQ(Steps(status),
            "hostname=0 users=0 chpasswd=0 authorized_keys=0 runcmd-001=0 runcmd-002=0 "
            "runcmd-003=7 ");
  EXPECT_EQ(status["ran"][6]["output"], "to the console\n");

  // Host name, from the cloud-config (not the server's name).
  auto host = Call("guest-get-host-name");
  ASSERT_TRUE(host.ok) << host.error_desc;
  EXPECT_EQ(host.value["host-name"], "kumo-ud");
  EXPECT_EQ(Cat("/etc/hostname"), "kumo-ud\n");

  // runcmd: a shell string and an argv list (passed as is, no shell parsing).
  EXPECT_EQ(Cat("/root/runcmd-marker"), "runcmd ran on kumo-ud\n");
  EXPECT_EQ(Cat("/root/argv-marker"), "a b|$HOME|;|");

  // root's password: a SHA-512 hash of exactly that password.
  std::string shadow = Cat("/etc/shadow");
  ASSERT_EQ(shadow.rfind("root:$6$", 0), 0u) << shadow;
  std::string hash = shadow.substr(5, shadow.find(':', 5) - 5);
  std::string salt = hash.substr(3, hash.find('$', 3) - 3);
  auto rehash = Exec("/bin/busybox", {"mkpasswd", "-m", "sha512", "-S", salt}, password + "\n");
  EXPECT_EQ(rehash.second, hash + "\n");

  // SSH keys: the create key first, then the cloud-config's; private modes.
  EXPECT_EQ(Cat("/root/.ssh/authorized_keys"),
            std::string(kCreateKey) +
                "\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCkumoConfigKey config@host\n");
  EXPECT_EQ(Exec("/bin/stat", {"-c", "%a %U", "/root/.ssh", "/root/.ssh/authorized_keys"}).second,
            "700 root\n600 root\n");
  EXPECT_EQ(Exec("/bin/grep", {"^deploy:", "/etc/passwd"}).second,
            "deploy:x:1000:1000::/home/deploy:/bin/sh\n");
  EXPECT_EQ(Cat("/home/deploy/.ssh/authorized_keys"),
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDeployKey deploy@host\n");
  EXPECT_EQ(Exec("/bin/stat", {"-c", "%a %U", "/home/deploy/.ssh/authorized_keys"}).second,
            "600 deploy\n");

  // kumo-init finds the seed by its label (/dev/vdb is only the fallback).
  EXPECT_EQ(Exec("/sbin/findfs", {"LABEL=cidata"}).second, "/dev/vdb\n");

  // The seed is unmounted once read: its passwords are not left lying around.
  EXPECT_EQ(Exec("/bin/grep", {"-c", "/run/kumo/seed", "/proc/mounts"}).second, "0\n");

  std::string console = vm_.serial_log();
  EXPECT_NE(console.find("kumo-init: runcmd-003: exit status 7"), std::string::npos);
  EXPECT_NE(console.find("to the console"), std::string::npos);
}

TEST_F(UserData, ScriptRunsOncePerInstanceAndReportsItsExitStatus) {
  const std::string script =
      "#!/bin/sh\n"
      "echo \"script ran as $(id -u) in $PWD\" >> /root/script-marker\n"
      "echo 'from the script: \"quotes\", \\backslash, tab\t, bytes \x01\xff'\n"
      "exit 3\n";
  std::string err;
  ASSERT_TRUE(vm_.MakeSeed({"i-script-1", "script-host", script, kCreateKey}, &err)) << err;
  Boot(1);
  json status = WaitForInit();
  EXPECT_EQ(Steps(status), "hostname=0 authorized_keys=0 script=3 ");
  ASSERT_EQ(status["ran"].size(), 3u);
  const json& step = status["ran"][2];
  EXPECT_EQ(step["output"],
            "from the script: \"quotes\", \\backslash, tab\t, bytes \x01\xef\xbf\xbd\n")
      << "control characters come through escaped, invalid UTF-8 as U+FFFD";
  EXPECT_GE(step["ended"].get<int64_t>(), step["started"].get<int64_t>());
  EXPECT_EQ(Cat("/root/script-marker"), "script ran as 0 in /\n");
  EXPECT_EQ(Call("guest-get-host-name").value["host-name"], "script-host");
  EXPECT_EQ(Exec("/bin/stat", {"-c", "%a", "/var/lib/kumo/init/script"}).second, "700\n");
  EXPECT_NE(vm_.serial_log().find("kumo-init: script: exit status 3"), std::string::npos);

  // Second boot, same instance: nothing runs again (the host name is set
  // every boot).
  PowerOff();
  Boot(2);
  status = WaitForInit();
  EXPECT_EQ(status["first_boot"], false);
  EXPECT_EQ(Steps(status), "hostname=0 ");
  EXPECT_EQ(Cat("/root/script-marker"), "script ran as 0 in /\n");
  EXPECT_EQ(Exec("/bin/grep", {"-c", "AAAAIKumoCreateKey", "/root/.ssh/authorized_keys"}).second,
            "1\n");
}

TEST_F(UserData, EveryBootScriptRunsAtEachBoot) {
  const std::string script =
      "#!/bin/sh\n"
      "# kumo: every-boot\n"
      "cat /proc/sys/kernel/random/boot_id >> /root/boots\n";
  std::string err;
  ASSERT_TRUE(vm_.MakeSeed({"i-every-1", "every", script, ""}, &err)) << err;
  Boot(1);
  EXPECT_EQ(Steps(WaitForInit()), "hostname=0 script=0 ");
  PowerOff();
  Boot(2);
  json status = WaitForInit();
  EXPECT_EQ(status["first_boot"], false);
  EXPECT_EQ(Steps(status), "hostname=0 script=0 ");
  auto [code, boots] = Exec("/usr/bin/wc", {"-l", "/root/boots"});
  EXPECT_EQ(boots, "2 /root/boots\n");
}

TEST_F(UserData, NoSeedDiskIsFine) {
  Boot(1, /*with_seed=*/false);
  json status = WaitForInit();
  EXPECT_EQ(status["seed"], false);
  EXPECT_TRUE(status["instance_id"].is_null());
  EXPECT_EQ(status["ran"], json::array());
  EXPECT_EQ(Call("guest-get-host-name").value["host-name"], "kumo");
  EXPECT_EQ(vm_.serial_log().find("kumo-init"), std::string::npos) << "no seed: no noise";
}

}  // namespace
}  // namespace kumo
