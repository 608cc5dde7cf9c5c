// The reply readers as pure functions, against the shapes a hostile or
// broken guest may send.
#include "guestlink/agent_replies.h"

#include <gtest/gtest.h>

#include "common/base64.h"

namespace kumo::guestlink {
namespace {

TEST(AgentReplies, ReplyStatusTellsSilenceFromRefusal) {
  QgaReply timeout{false, true, json(), "Timeout", "the guest agent did not answer in time"};
  QgaReply busy{false, true, json(), "Timeout", "... (it was still busy with an earlier request)"};
  QgaReply cannot{false, false, json(), "ConnectionError", "cannot connect: No such file"};
  QgaReply closed{false, true, json(), "ConnectionError", "agent link closed"};
  QgaReply refused{false, false, json(), "CommandNotFound", "Command guest-exec has been disabled"};
  QgaReply nameless{false, false, json(), "", ""};
  QgaReply huge{false, false, json(), std::string(5000, 'c'), std::string(5000, 'd')};

  EXPECT_TRUE(ReplyStatus(QgaReply{true, false, json::object(), "", ""}).ok());
  EXPECT_EQ(ReplyStatus(timeout).code(), codes::kGuestAgentNotResponding);
  EXPECT_EQ(ReplyStatus(timeout).message(), "the guest agent did not answer: timed out");
  EXPECT_EQ(ReplyStatus(busy).message(),
            "the guest agent did not answer: timed out (it was still busy with an earlier "
            "request)");
  EXPECT_EQ(ReplyStatus(cannot).message(),
            "the guest agent did not answer: cannot connect: No such file");
  EXPECT_EQ(ReplyStatus(closed).code(), codes::kGuestAgentNotResponding);
  EXPECT_EQ(ReplyStatus(refused).code(), codes::kGuestCommandFailed);
  EXPECT_EQ(ReplyStatus(refused).message(),
            "Command guest-exec has been disabled (CommandNotFound)");
  EXPECT_EQ(ReplyStatus(nameless).message(), "the guest agent refused the command");
  EXPECT_LE(ReplyStatus(huge).message().size(), 2 * kMaxTextBytes + 3);
}

TEST(AgentReplies, ExecArgumentsSendInputAsBase64) {
  ExecCommand c{"/bin/cat", {"-n"}, "hi", true};
  EXPECT_EQ(ExecArguments(c), json({{"path", "/bin/cat"},
                                    {"arg", {"-n"}},
                                    {"capture-output", true},
                                    {"input-data", Base64Encode("hi")}}));
  EXPECT_FALSE(ExecArguments(ExecCommand{"/bin/true", {}, "", false}).contains("input-data"));
  EXPECT_STREQ(ShutdownModeName(ShutdownMode::kPowerdown), "powerdown");
  EXPECT_STREQ(ShutdownModeName(ShutdownMode::kReboot), "reboot");
  EXPECT_STREQ(ShutdownModeName(ShutdownMode::kHalt), "halt");
}

TEST(AgentReplies, ExecStarted) {
  struct Case {
    json value;
    int64_t pid;  // 0: malformed
  };
  const Case cases[] = {
      {{{"pid", 4242}}, 4242}, {{{"pid", 0}}, 0},        {{{"pid", -3}}, 0},
      {{{"pid", "4242"}}, 0},  {{{"pid", 4.5}}, 0},      {{{"pid", 18446744073709551615ULL}}, 0},
      {json::object(), 0},     {json::array({4242}), 0}, {json(), 0},
  };
  for (const auto& c : cases) {
    auto r = ParseExecStarted(c.value);
    if (c.pid == 0) {
      ASSERT_FALSE(r.ok()) << c.value.dump();
      EXPECT_EQ(r.status().code(), codes::kGuestCommandFailed);
      EXPECT_EQ(r.status().message().rfind("malformed reply to guest-exec", 0), 0u);
    } else {
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(*r, c.pid);
    }
  }
}

TEST(AgentReplies, ExecStatus) {
  auto ok = ParseExecStatus({{"exited", true},
                             {"exitcode", 3},
                             {"out-data", Base64Encode("out\n")},
                             {"err-data", Base64Encode("err\n")},
                             {"out-truncated", true}});
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_TRUE(ok->exited);
  EXPECT_EQ(ok->exit_code, 3);
  EXPECT_EQ(ok->signal, 0);
  EXPECT_EQ(ok->stdout_text, "out\n");
  EXPECT_EQ(ok->stderr_text, "err\n");

  auto killed = ParseExecStatus({{"exited", true}, {"signal", 9}});
  ASSERT_TRUE(killed.ok());
  EXPECT_EQ(killed->exit_code, -1);
  EXPECT_EQ(killed->signal, 9);

  auto running = ParseExecStatus({{"exited", false}, {"out-data", "!!"}});
  ASSERT_TRUE(running.ok()) << "nothing but exited counts while it runs";
  EXPECT_FALSE(running->exited);

  const json malformed[] = {
      json(),
      json::array(),
      json::object(),
      {{"exited", "yes"}},
      {{"exited", 1}},
      {{"exited", true}, {"exitcode", "0"}},
      {{"exited", true}, {"exitcode", 1LL << 40}},
      {{"exited", true}, {"signal", 1.5}},
      {{"exited", true}, {"out-data", "not base64!"}},
      {{"exited", true}, {"out-data", 12}},
      {{"exited", true}, {"err-data", "QQ"}},  // unpadded
      {{"exited", true}, {"err-data", json::array()}},
  };
  for (const auto& value : malformed) {
    auto r = ParseExecStatus(value);
    ASSERT_FALSE(r.ok()) << value.dump();
    EXPECT_EQ(r.status().code(), codes::kGuestCommandFailed);
    EXPECT_EQ(r.status().message().rfind("malformed reply to guest-exec-status", 0), 0u);
  }
}

TEST(AgentReplies, OsInfo) {
  auto ok = ParseOsInfo({{"id", "debian"},
                         {"pretty-name", "Debian GNU/Linux 12 (bookworm)"},
                         {"kernel-release", "6.1.0-18-cloud-amd64"},
                         {"machine", "x86_64"},
                         {"version-id", "12"}});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->id, "debian");
  EXPECT_EQ(ok->pretty_name, "Debian GNU/Linux 12 (bookworm)");
  EXPECT_EQ(ok->kernel_release, "6.1.0-18-cloud-amd64");
  EXPECT_EQ(ok->machine, "x86_64");

  auto sparse = ParseOsInfo(json::object());
  ASSERT_TRUE(sparse.ok()) << "qemu-ga leaves out what it does not know";
  EXPECT_EQ(sparse->id, "");

  // A long name is cut at a character boundary: "é" is two bytes.
  std::string long_name;
  while (long_name.size() < 3 * kMaxTextBytes) long_name += "é";
  auto cut = ParseOsInfo({{"pretty-name", "x" + long_name}});
  ASSERT_TRUE(cut.ok());
  EXPECT_LE(cut->pretty_name.size(), kMaxTextBytes);
  EXPECT_NO_THROW(json(cut->pretty_name).dump()) << "cut inside a character";

  for (const json& value : {json(), json::array(), json({{"id", 7}}), json({{"machine", {1}}})}) {
    auto r = ParseOsInfo(value);
    ASSERT_FALSE(r.ok()) << value.dump();
    EXPECT_EQ(r.status().code(), codes::kGuestCommandFailed);
  }
}

TEST(AgentReplies, AgentIdentity) {
  auto rescue = ParseAgentIdentity({{"version", "0.1.0"}, {"kumo-role", "rescue"}});
  ASSERT_TRUE(rescue.ok());
  EXPECT_EQ(rescue->role, "rescue");
  EXPECT_EQ(rescue->version, "0.1.0");
  EXPECT_TRUE(rescue->kumo_commands);
  const json stock_commands = {{{"name", "guest-ping"}, {"enabled", true}},
                               {{"name", "guest-exec"}, {"enabled", true}}};
  auto stock = ParseAgentIdentity({{"version", "7.2.0"}, {"supported_commands", stock_commands}});
  ASSERT_TRUE(stock.ok()) << "qemu-ga has no role";
  EXPECT_EQ(stock->role, "");
  EXPECT_EQ(stock->version, "7.2.0");
  EXPECT_FALSE(stock->kumo_commands);
  // An agent without a role that offers kumo-health has kumo-agent's commands;
  // one that lists it disabled does not.
  json offers = {{"version", "1"},
                 {"supported_commands", {{{"name", "kumo-health"}, {"enabled", true}}}}};
  EXPECT_TRUE(ParseAgentIdentity(offers)->kumo_commands);
  offers["supported_commands"][0]["enabled"] = false;
  EXPECT_FALSE(ParseAgentIdentity(offers)->kumo_commands);
  for (const json& value : {json(), json::array(), json({{"kumo-role", true}}),
                            json({{"version", 7}})}) {
    auto r = ParseAgentIdentity(value);
    ASSERT_FALSE(r.ok()) << value.dump();
    EXPECT_EQ(r.status().code(), codes::kGuestCommandFailed);
  }
}

TEST(AgentReplies, NetworkInterfaces) {
  json reply =
      json::array({{{"name", "lo"},
                    {"hardware-address", "00:00:00:00:00:00"},
                    {"ip-addresses",
                     {{{"ip-address", "127.0.0.1"}, {"ip-address-type", "ipv4"}, {"prefix", 8}},
                      {{"ip-address", "::1"}, {"ip-address-type", "ipv6"}, {"prefix", 128}}}}},
                   {{"name", "eth0"}}});
  auto ok = ParseNetworkInterfaces(reply);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  ASSERT_EQ(ok->size(), 2u);
  EXPECT_EQ((*ok)[0].name, "lo");
  EXPECT_EQ((*ok)[0].hardware_address, "00:00:00:00:00:00");
  EXPECT_EQ((*ok)[0].ip_addresses, (std::vector<std::string>{"127.0.0.1/8", "::1/128"}));
  EXPECT_EQ((*ok)[1].name, "eth0");
  EXPECT_TRUE((*ok)[1].ip_addresses.empty());

  // Huge arrays are cut, not refused.
  json address = {{"ip-address", "10.0.0.1"}, {"prefix", 24}};
  json many_addresses = json::array();
  for (int i = 0; i < 5000; ++i) many_addresses.push_back(address);
  json many = json::array();
  many.push_back({{"name", "eth0"}, {"ip-addresses", many_addresses}});
  for (int i = 0; i < 5000; ++i) many.push_back({{"name", "eth" + std::to_string(i + 1)}});
  auto cut = ParseNetworkInterfaces(many);
  ASSERT_TRUE(cut.ok());
  EXPECT_EQ(cut->size(), kMaxInterfaces);
  EXPECT_EQ(cut->front().ip_addresses.size(), kMaxAddressesPerInterface);

  auto with = [](json iface) { return json::array({std::move(iface)}); };
  auto with_address = [&](json address) {
    return with({{"name", "eth0"}, {"ip-addresses", json::array({std::move(address)})}});
  };
  const json malformed[] = {
      json(),
      json::object(),
      json::array({"eth0"}),
      with(json::object()),
      with({{"name", 1}}),
      with({{"name", "eth0"}, {"hardware-address", false}}),
      with({{"name", "eth0"}, {"ip-addresses", "10.0.0.1"}}),
      with_address("10.0.0.1"),
      with_address({{"prefix", 8}}),
      with_address({{"ip-address", "a"}, {"prefix", 200}}),
      with_address({{"ip-address", "a"}, {"prefix", "8"}}),
  };
  for (const auto& value : malformed) {
    auto r = ParseNetworkInterfaces(value);
    ASSERT_FALSE(r.ok()) << value.dump();
    EXPECT_EQ(r.status().code(), codes::kGuestCommandFailed);
    EXPECT_EQ(r.status().message().rfind("malformed reply to guest-network-get-interfaces", 0), 0u);
  }
}

TEST(AgentReplies, ObjectReplies) {
  EXPECT_TRUE(ParseObject("kumo-health", {{"memory", json::object()}}).ok());
  for (const json& value : {json(), json::array(), json("x"), json(1)}) {
    auto r = ParseObject("kumo-health", value);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().message(), "malformed reply to kumo-health: not an object");
  }
}

}  // namespace
}  // namespace kumo::guestlink
