// End to end for the operator's last doors: the serial console over the
// WebSocket, init scripts (user data), SSH with the key given at create,
// password reset through the agent, and rescue boot — with kumod, real QEMU
// and the project's guest image.
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "e2e/kumod_harness.h"
#include "support/console_client.h"

namespace kumo {
namespace {

using testing::ConsoleClient;
using testing::json;
using testing::KumodHarness;
using namespace std::chrono_literals;

constexpr double kBootTimeout = 180;

class Console : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string err;
    ASSERT_TRUE(kumod_.Start(&err)) << err;
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "--- kumod log ---\n" << kumod_.log() << "\n";
  }

  json Create(json body) {
    if (!body.contains("memory_mib")) body["memory_mib"] = 192;
    auto r = kumod_.Call("POST", "/v1/servers", body);
    EXPECT_EQ(r.status, 201) << r.body;
    json s = kumod_.WaitStatus(body["name"], "running", kBootTimeout);
    EXPECT_EQ(s["status"], "running") << s.dump();
    return s;
  }

  std::unique_ptr<ConsoleClient> Attach(const std::string& name) {
    return testing::AttachConsole(kumod_.port(), name, kumod_.token());
  }

  KumodHarness kumod_;
};

TEST_F(Console, InitScriptSetsThePasswordAndTheConsoleLoginWorks) {
  Create({{"name", "init"},
          {"user_data",
           "#!/bin/sh\necho 'root:first-Pass1' | chpasswd\necho made-by-init > /root/marker\n"
           "echo init script output\nexit 0\n"}});
  // The script's exit status is in the timeline (reported once it finished).
  for (int i = 0; i < 100 && !kumod_.HasEvent("init", "exited with status 0"); ++i) {
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_TRUE(
      kumod_.HasEvent("init", "init script exited with status 0 (last output: init script output)"))
      << kumod_.Events("init").dump(1);

  auto console = Attach("init");
  ASSERT_TRUE(console->Login("root", "first-Pass1", 60s)) << console->output();
  EXPECT_NE(console->Run("cat /root/marker", 10s).find("made-by-init"), std::string::npos)
      << console->output();
  // Its output went to the console too: it is in the scrollback.
  auto log = kumod_.Call("GET", "/v1/servers/init/console-log");
  ASSERT_EQ(log.status, 200) << log.body;
  EXPECT_NE(log.json()["text"].get<std::string>().find("init script output"), std::string::npos);
}

TEST_F(Console, CloudConfigSetsHostnameAndRunsCommands) {
  Create({{"name", "cc"},
          {"user_data",
           "#cloud-config\nhostname: cloudy\npassword: cc-Pass-2\nruncmd:\n"
           "  - echo from-runcmd > /root/runcmd-marker\n"}});
  for (int i = 0; i < 100; ++i) {
    auto r = kumod_.Exec("cc", {"/bin/cat", "/root/runcmd-marker"});
    if (r.status == 200 && r.json()["exit_code"] == 0) break;
    std::this_thread::sleep_for(200ms);
  }
  auto marker = kumod_.Exec("cc", {"/bin/cat", "/root/runcmd-marker"});
  EXPECT_EQ(marker.json()["stdout"], "from-runcmd\n") << marker.body;
  EXPECT_EQ(kumod_.Exec("cc", {"/bin/hostname"}).json()["stdout"], "cloudy\n");
  auto console = Attach("cc");
  EXPECT_TRUE(console->Login("root", "cc-Pass-2", 60s)) << console->output();
}

TEST_F(Console, SshWithTheKeyGivenAtCreate) {
  testing::TempDir keys;
  std::string key = keys / "id_ed25519";
  testing::ChildProcess keygen;
  std::string err;
  ASSERT_TRUE(keygen.Start({"/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key},
                           keys / "keygen.log", &err))
      << err;
  ASSERT_EQ(keygen.WaitExit(30s), 0) << testing::ReadFile(keys / "keygen.log");
  json s = Create({{"name", "sshd"}, {"ssh_key", testing::ReadFile(key + ".pub")}});
  ASSERT_TRUE(s["ssh_port"].is_number()) << s.dump();
  std::string port = std::to_string(s["ssh_port"].get<int>());

  // dropbear makes its host key on the first connection; allow retries.
  std::string out;
  int status = -1;
  for (int i = 0; i < 30 && status != 0; ++i) {
    testing::ChildProcess ssh;
    ASSERT_TRUE(ssh.Start({"/usr/bin/ssh", "-i", key, "-p", port, "-o", "BatchMode=yes", "-o",
                           "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o",
                           "ConnectTimeout=10", "root@127.0.0.1", "cat", "/etc/os-release"},
                          keys / "ssh.log", &err))
        << err;
    status = ssh.WaitExit(60s);
    out = testing::ReadFile(keys / "ssh.log");
    if (status != 0) std::this_thread::sleep_for(1s);
  }
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("kumo guest"), std::string::npos) << out;
}

TEST_F(Console, SetPasswordThroughTheAgentThenConsoleLogin) {
  Create({{"name", "pw"}});
  // Before any password is set, the console says so and how to set one
  // (busybox's login alone says "login: bad salt").
  {
    auto early = Attach("pw");
    ASSERT_TRUE(early->Send("\r"));
    ASSERT_TRUE(early->WaitFor("login: ", 60s)) << early->output();
    ASSERT_TRUE(early->Send("root\r"));
    EXPECT_TRUE(early->WaitFor("root has no password yet", 20s)) << early->output();
    EXPECT_TRUE(early->WaitFor("kumo set-password SERVER root", 5s)) << early->output();
    EXPECT_EQ(early->output().find("bad salt"), std::string::npos) << early->output();
  }
  auto r = kumod_.Call("POST", "/v1/servers/pw/password",
                       {{"user", "root"}, {"password", "Agent-set-3"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(kumod_.HasEvent("pw", "password set for user root"));
  auto console = Attach("pw");
  EXPECT_TRUE(console->Login("root", "Agent-set-3", 60s)) << console->output();
}

// The operator's story: the agent is gone (SIGSTOP here), SSH has no key;
// the console still lets them in, and a password reset names the way out.
TEST_F(Console, ConsoleWorksWhileTheAgentIsDown) {
  Create({{"name", "down"}, {"user_data", "#!/bin/sh\necho 'root:Down-Pass-6' | chpasswd\n"}});
  auto exec =
      kumod_.Exec("down", {"/bin/sh", "-c", "(sleep 1; kill -STOP $PPID) >/dev/null 2>&1 &"});
  ASSERT_EQ(exec.status, 200) << exec.body;
  json s = kumod_.WaitStatus("down", "warning", 15);
  ASSERT_EQ(s["status"], "warning") << s.dump();

  auto r = kumod_.Call("POST", "/v1/servers/down/password", {{"password", "New-Pass-7"}});
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(r.json()["error"]["code"], "GuestAgentNotResponding");
  EXPECT_NE(r.json()["error"]["hint"].get<std::string>().find("kumo rescue down"),
            std::string::npos)
      << r.body;

  auto console = Attach("down");
  ASSERT_TRUE(console->Login("root", "Down-Pass-6", 60s)) << console->output();
  EXPECT_NE(console->Run("pidof kumo-agent", 10s).find_first_of("0123456789"), std::string::npos)
      << console->output();
}

TEST_F(Console, RescueGivesARootShellToSetAPassword) {
  Create({{"name", "lost"}});  // no password was ever set: the console cannot be used
  auto r = kumod_.Call("POST", "/v1/servers/lost/actions", {{"action", "rescue"}});
  ASSERT_EQ(r.status, 202) << r.body;
  json s = kumod_.WaitStatus("lost", "running", kBootTimeout);
  ASSERT_EQ(s["boot_mode"], "rescue") << s.dump();
  EXPECT_NE(s["status_reason"].get<std::string>().find("rescue mode"), std::string::npos);

  auto console = Attach("lost");
  console->Send("\n");
  ASSERT_TRUE(console->WaitFor("# ", 30s)) << console->output();
  std::string out = console->Run("echo 'root:Rescued-4' | chpasswd", 20s);
  EXPECT_NE(console->Run("id -u", 10s).find("0"), std::string::npos) << console->output();

  r = kumod_.Call("POST", "/v1/servers/lost/actions", {{"action", "unrescue"}});
  ASSERT_EQ(r.status, 202) << r.body;
  s = kumod_.WaitStatus("lost", "running", kBootTimeout);
  EXPECT_EQ(s["boot_mode"], "normal") << s.dump();
  auto after = Attach("lost");
  EXPECT_TRUE(after->Login("root", "Rescued-4", 60s)) << after->output();
}

TEST_F(Console, AttachNeedsTheTokenAServerAndAGuest) {
  Create({{"name", "door"}});
  std::string err;
  ConsoleClient no_token, wrong, unknown, by_query;
  EXPECT_FALSE(no_token.Connect(kumod_.port(), "door", "", &err, ConsoleClient::TokenIn::kQuery));
  EXPECT_EQ(err.rfind("401", 0), 0u) << "[" << err << "]";
  EXPECT_FALSE(wrong.Connect(kumod_.port(), "door", "not-the-token", &err));
  EXPECT_EQ(err.rfind("401", 0), 0u) << "[" << err << "]";
  EXPECT_FALSE(unknown.Connect(kumod_.port(), "nosuch", kumod_.token(), &err));
  EXPECT_EQ(err.rfind("404", 0), 0u) << err;
  // A browser cannot set headers: the token in the query works.
  ASSERT_TRUE(
      by_query.Connect(kumod_.port(), "door", kumod_.token(), &err, ConsoleClient::TokenIn::kQuery))
      << err;
  by_query.Send("\n");
  EXPECT_TRUE(by_query.WaitFor("login:", 20s)) << by_query.output();
  // ?tail=N replays the last lines first: the login prompt shows without a key.
  ConsoleClient replay;
  ASSERT_TRUE(replay.Connect(kumod_.port(), "door", kumod_.token(), &err,
                             ConsoleClient::TokenIn::kHeader, 5))
      << err;
  EXPECT_TRUE(replay.WaitFor("login:", 5s)) << replay.output();
  ConsoleClient bad_tail;
  EXPECT_FALSE(bad_tail.Connect(kumod_.port(), "door", kumod_.token(), &err,
                                ConsoleClient::TokenIn::kHeader, 20000));
  EXPECT_EQ(err.rfind("400", 0), 0u) << err;
  // A plain GET is told to upgrade.
  EXPECT_EQ(kumod_.Call("GET", "/v1/servers/door/console").status, 400);

  std::string out;
  EXPECT_EQ(kumod_.RunCli({"--token", "wrong", "console", "door"}, &out), 7) << out;
  EXPECT_EQ(kumod_.RunCli({"console", "nosuch"}, &out), 4) << out;
}

TEST_F(Console, ScrollbackSurvivesKumodRestartAndTwoClientsSeeOutput) {
  Create({{"name", "log"}});
  auto first = Attach("log");
  auto second = Attach("log");
  first->Send("\n");
  EXPECT_TRUE(first->WaitFor("login:", 20s)) << first->output();
  EXPECT_TRUE(second->WaitFor("login:", 20s)) << second->output();

  kumod_.Kill9();
  std::string err;
  ASSERT_TRUE(kumod_.Start(&err)) << err;
  auto log = kumod_.Call("GET", "/v1/servers/log/console-log");
  ASSERT_EQ(log.status, 200) << log.body;
  EXPECT_NE(log.json()["text"].get<std::string>().find("Linux version"), std::string::npos)
      << "the boot log is gone from the scrollback";
  auto tail = kumod_.Call("GET", "/v1/servers/log/console-log?tail=3");
  ASSERT_EQ(tail.status, 200) << tail.body;
  EXPECT_EQ(tail.json()["text"].get<std::string>().find("Linux version"), std::string::npos);
  // The console still works after the restart.
  auto third = Attach("log");
  third->Send("\n");
  EXPECT_TRUE(third->WaitFor("login:", 20s)) << third->output();

  // The CLI prints the same scrollback; a stopped server keeps it, and its
  // console refuses to attach (exit 5) with a hint to read the log.
  std::string out;
  EXPECT_EQ(kumod_.RunCli({"console-log", "log", "--tail", "5"}, &out), 0) << out;
  EXPECT_NE(out.find("login:"), std::string::npos) << out;
  ASSERT_EQ(
      kumod_.Call("POST", "/v1/servers/log/actions", {{"action", "stop"}, {"force", true}}).status,
      202);
  kumod_.WaitStatus("log", "stopped", 30);
  EXPECT_EQ(kumod_.RunCli({"console", "log"}, &out), 5) << out;
  EXPECT_NE(out.find("kumo console-log log"), std::string::npos) << out;
  EXPECT_EQ(kumod_.RunCli({"console-log", "log"}, &out), 0) << out;
  EXPECT_NE(out.find("Linux version"), std::string::npos);
}

}  // namespace
}  // namespace kumo
