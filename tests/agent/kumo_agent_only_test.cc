// kumo-agent behaviour beyond what qemu-ga shares: kumo-health, the safe
// defaults of --listen mode, guest-shutdown and guest-set-user-password run
// against recording stand-ins (never the host's own poweroff or chpasswd),
// and the 256 KiB request bound.
#include "agent/agent_under_test.h"
#include "common/base64.h"

namespace kumo {
namespace {

QgaReply Call(AgentUnderTest& a, const std::string& cmd, const json& args = json()) {
  return a.client().Call(cmd, args, Clock::now() + 10s);
}

TEST(KumoAgent, HealthReportsLoadMemoryProcessesAndOomKills) {
  AgentUnderTest a(Agent::kKumo);
  auto r = Call(a, "kumo-health");
  ASSERT_TRUE(r.ok) << r.error_desc;
  const json& h = r.value;
  EXPECT_GT(h["uptime_s"].get<double>(), 0);
  EXPECT_TRUE(h["load"]["1m"].is_number());
  EXPECT_GT(h["memory"]["total_kib"].get<int64_t>(), 0);
  EXPECT_LE(h["memory"]["available_kib"].get<int64_t>(), h["memory"]["total_kib"].get<int64_t>());
  EXPECT_GT(h["processes"].get<int64_t>(), 1);
  EXPECT_GT(h["root_fs"]["total_kib"].get<int64_t>(), 0);
  EXPECT_TRUE(h["sshd"]["running"].is_boolean());
  EXPECT_TRUE(h["oom_kills"].is_array());
  EXPECT_EQ(h["agent_pid"], a.process().pid());
  if (access("/proc/pressure/memory", R_OK) == 0) {
    EXPECT_TRUE(h["pressure"]["memory"]["some"]["avg10"].is_number()) << h.dump();
  }
}

// On a host socket nothing may change the host: shutdown, exec and password
// changes need an explicit stand-in or flag.
TEST(KumoAgent, ListenModeDisablesShutdownExecAndPasswordByDefault) {
  AgentUnderTest a(Agent::kKumo);
  for (const char* cmd : {"guest-shutdown", "guest-exec", "guest-set-user-password"}) {
    auto r =
        Call(a, cmd, cmd == std::string("guest-exec") ? json({{"path", "/bin/true"}}) : json());
    EXPECT_FALSE(r.ok) << cmd;
    EXPECT_EQ(r.error_class, "CommandNotFound") << cmd;
    EXPECT_NE(r.error_desc.find("disabled"), std::string::npos) << r.error_desc;
  }
  // guest-info says so too.
  auto info = Call(a, "guest-info");
  for (const auto& c : info.value["supported_commands"]) {
    if (c["name"] == "guest-shutdown") {
      EXPECT_FALSE(c["enabled"].get<bool>());
      EXPECT_FALSE(c["success-response"].get<bool>());
    }
  }
}

// kumod tells a rescue boot from a normal one by the role guest-info reports.
TEST(KumoAgent, GuestInfoReportsTheRole) {
  AgentUnderTest normal(Agent::kKumo);
  auto info = Call(normal, "guest-info");
  ASSERT_TRUE(info.ok) << info.error_desc;
  EXPECT_EQ(info.value["kumo-role"], "normal");
  AgentUnderTest rescue(Agent::kKumo, {"--role", "rescue"});
  info = Call(rescue, "guest-info");
  ASSERT_TRUE(info.ok) << info.error_desc;
  EXPECT_EQ(info.value["kumo-role"], "rescue");
}

TEST(KumoAgent, ShutdownRunsThePowerCommandAndSendsNoReply) {
  TempDir tools;
  std::string record = tools / "power.log";
  testing::WriteFile(tools / "power", "#!/bin/sh\necho \"$1\" >> " + record + "\n", 0755);
  AgentUnderTest a(Agent::kKumo, {"--power-command", tools / "power"});
  ASSERT_TRUE(a.client().SendRaw(R"({"execute":"guest-shutdown","arguments":{"mode":"reboot"}})"));
  ASSERT_TRUE(a.client().SendRaw(R"({"execute":"guest-sync","arguments":{"id":5}})"));
  // The first reply to arrive is the sync's: guest-shutdown answered nothing.
  auto next = a.client().ReadMessage(Clock::now() + 10s);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(*next, json({{"return", 5}}));
  EXPECT_EQ(testing::ReadFile(record), "reboot\n");

  auto bad = Call(a, "guest-shutdown", {{"mode", "explode"}});
  EXPECT_EQ(bad.error_class, "GenericError");
  EXPECT_EQ(testing::ReadFile(record), "reboot\n") << "a rejected mode must run nothing";
}

TEST(KumoAgent, ShutdownReportsAFailingPowerCommand) {
  TempDir tools;
  testing::WriteFile(tools / "power", "#!/bin/sh\nexit 1\n", 0755);
  AgentUnderTest a(Agent::kKumo, {"--power-command", tools / "power"});
  auto r = Call(a, "guest-shutdown");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error_class, "GenericError");
}

TEST(KumoAgent, SetUserPasswordFeedsChpasswd) {
  TempDir tools;
  std::string record = tools / "chpasswd.log";
  testing::WriteFile(tools / "chpasswd",
                     "#!/bin/sh\necho \"args:$*\" >> " + record + "\ncat >> " + record + "\n",
                     0755);
  AgentUnderTest a(Agent::kKumo, {"--passwd-command", tools / "chpasswd"});
  auto r =
      Call(a, "guest-set-user-password",
           {{"username", "root"}, {"password", Base64Encode("s3cret pass")}, {"crypted", false}});
  ASSERT_TRUE(r.ok) << r.error_desc;
  EXPECT_EQ(r.value, json::object());
  auto crypted =
      Call(a, "guest-set-user-password",
           {{"username", "ops"}, {"password", Base64Encode("$6$salt$hash")}, {"crypted", true}});
  ASSERT_TRUE(crypted.ok) << crypted.error_desc;
  EXPECT_EQ(testing::ReadFile(record), "args:\nroot:s3cret pass\nargs:-e\nops:$6$salt$hash\n");
}

TEST(KumoAgent, SetUserPasswordRejectsBadInputAndChangesNothing) {
  TempDir tools;
  std::string record = tools / "chpasswd.log";
  testing::WriteFile(tools / "chpasswd", "#!/bin/sh\ncat >> " + record + "\n", 0755);
  AgentUnderTest a(Agent::kKumo, {"--passwd-command", tools / "chpasswd"});
  const json bad_cases[] = {
      {{"username", "root"}, {"password", "not base64!"}, {"crypted", false}},
      {{"username", "ro:ot"}, {"password", Base64Encode("x")}, {"crypted", false}},
      {{"username", ""}, {"password", Base64Encode("x")}, {"crypted", false}},
      {{"username", "root"}, {"password", Base64Encode("two\nlines")}, {"crypted", false}},
      {{"username", "root"}, {"password", Base64Encode("")}, {"crypted", false}},
      {{"username", "root"}, {"crypted", false}},
  };
  for (const auto& args : bad_cases) {
    auto r = Call(a, "guest-set-user-password", args);
    EXPECT_FALSE(r.ok) << args.dump();
    EXPECT_EQ(r.error_class, "GenericError") << args.dump();
  }
  EXPECT_EQ(testing::ReadFile(record), "") << "no bad request may reach chpasswd";
}

TEST(KumoAgent, SetUserPasswordReportsChpasswdFailure) {
  TempDir tools;
  testing::WriteFile(tools / "chpasswd", "#!/bin/sh\ncat >/dev/null; exit 1\n", 0755);
  AgentUnderTest a(Agent::kKumo, {"--passwd-command", tools / "chpasswd"});
  auto r = Call(a, "guest-set-user-password",
                {{"username", "root"}, {"password", Base64Encode("pw")}, {"crypted", false}});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error_desc.find("failed to set user password"), std::string::npos) << r.error_desc;
}

TEST(KumoAgent, OversizedMessageGetsAnErrorNamingTheLimit) {
  AgentUnderTest a(Agent::kKumo);
  std::string big =
      R"({"execute":"guest-ping","arguments":{"pad":")" + std::string(2 << 20, 'a') + "\"}}";
  ASSERT_TRUE(a.client().SendRaw(big));
  auto reply = a.client().ReadMessage(Clock::now() + 10s);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ((*reply)["error"]["class"], "GenericError");
  EXPECT_NE((*reply)["error"]["desc"].get<std::string>().find("larger than 262144"),
            std::string::npos);
  EXPECT_TRUE(Call(a, "guest-ping").ok);
  // The agent did not keep the 2 MiB around.
  std::string status = testing::ReadFile("/proc/" + std::to_string(a.process().pid()) + "/status");
  auto at = status.find("VmRSS:");
  ASSERT_NE(at, std::string::npos);
  EXPECT_LT(std::stol(status.substr(at + 6)), 4096) << "RSS in KiB";
}

TEST(KumoAgent, SecondClientIsServedAfterTheFirstLeaves) {
  AgentUnderTest a(Agent::kKumo);
  ASSERT_TRUE(a.client().SendRaw(R"({"execute":"guest-pi)"));  // left half-written
  a.client().Close();
  QgaClient second;
  std::string err;
  ASSERT_TRUE(second.Connect(a.socket(), Clock::now() + 10s, &err)) << err;
  auto r = second.Call("guest-sync", {{"id", 9}}, Clock::now() + 10s);
  EXPECT_TRUE(r.ok) << r.error_desc << " (the half request must not leak into a new connection)";
}

}  // namespace
}  // namespace kumo
