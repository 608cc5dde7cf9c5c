// Protocol tests for the guest agent, run against kumo-agent --listen and,
// for every case both implement, against Debian's stock qemu-ga in
// unix-listen mode: the proof that kumo-agent speaks QGA's protocol.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <thread>

#include "agent/agent_under_test.h"
#include "common/base64.h"

namespace kumo {
namespace {

class AgentProtocol : public ::testing::TestWithParam<Agent> {
 protected:
  void SetUp() override {
    std::vector<std::string> args;
    if (GetParam() == Agent::kKumo) args.push_back("--allow-exec");  // qemu-ga allows it by default
    agent_ = std::make_unique<AgentUnderTest>(GetParam(), args);
    ASSERT_TRUE(client().Sync(Clock::now() + 10s)) << "agent never answered guest-sync-delimited";
  }
  QgaClient& client() { return agent_->client(); }
  QgaReply Call(const std::string& cmd, const json& args = json()) {
    return client().Call(cmd, args, Clock::now() + 10s);
  }
  json Next() {
    auto m = client().ReadMessage(Clock::now() + 10s);
    EXPECT_TRUE(m.has_value()) << "no reply";
    return m.value_or(json());
  }
  std::unique_ptr<AgentUnderTest> agent_;
};

TEST_P(AgentProtocol, PingReturnsEmptyObject) {
  auto r = Call("guest-ping");
  ASSERT_TRUE(r.ok) << r.error_desc;
  EXPECT_EQ(r.value, json::object());
}

TEST_P(AgentProtocol, SyncReturnsTheId) {
  auto r = Call("guest-sync", {{"id", 123456789}});
  ASSERT_TRUE(r.ok) << r.error_desc;
  EXPECT_EQ(r.value, 123456789);
}

TEST_P(AgentProtocol, SyncDelimitedReplyIsPrecededBySentinel) {
  // Look at the raw bytes: a new connection (the agent serves one at a time)
  // that reads exactly what the agent wrote.
  client().Close();
  std::string raw =
      RawExchange(agent_->socket(), R"({"execute":"guest-sync-delimited","arguments":{"id":42}})");
  ASSERT_FALSE(raw.empty());
  EXPECT_EQ(raw[0], '\xff');
  EXPECT_EQ(json::parse(raw.substr(1)), json({{"return", 42}}));
}

TEST_P(AgentProtocol, RequestIdIsEchoed) {
  ASSERT_TRUE(client().SendRaw(R"({"execute":"guest-ping","id":"req-7"})"));
  EXPECT_EQ(Next(), json({{"return", json::object()}, {"id", "req-7"}}));
}

TEST_P(AgentProtocol, InfoListsSupportedCommands) {
  auto r = Call("guest-info");
  ASSERT_TRUE(r.ok) << r.error_desc;
  EXPECT_TRUE(r.value["version"].is_string());
  std::set<std::string> names;
  for (const auto& c : r.value["supported_commands"]) {
    names.insert(c["name"].get<std::string>());
    EXPECT_TRUE(c["enabled"].is_boolean());
    EXPECT_TRUE(c["success-response"].is_boolean());
  }
  for (const char* name :
       {"guest-sync", "guest-sync-delimited", "guest-ping", "guest-info", "guest-shutdown",
        "guest-get-osinfo", "guest-get-host-name", "guest-get-time", "guest-network-get-interfaces",
        "guest-set-user-password", "guest-exec", "guest-exec-status"}) {
    EXPECT_TRUE(names.count(name)) << name;
  }
}

TEST_P(AgentProtocol, OsInfoReportsThisKernel) {
  utsname u{};
  uname(&u);
  auto r = Call("guest-get-osinfo");
  ASSERT_TRUE(r.ok) << r.error_desc;
  EXPECT_EQ(r.value["kernel-release"], u.release);
  EXPECT_EQ(r.value["machine"], u.machine);
  EXPECT_TRUE(r.value["id"].is_string());
}

TEST_P(AgentProtocol, HostNameIsThisHost) {
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  auto r = Call("guest-get-host-name");
  ASSERT_TRUE(r.ok) << r.error_desc;
  EXPECT_EQ(r.value["host-name"], name);
}

TEST_P(AgentProtocol, TimeIsNanosecondsSinceEpoch) {
  auto r = Call("guest-get-time");
  ASSERT_TRUE(r.ok) << r.error_desc;
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t now_ns = int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  EXPECT_LT(std::llabs(r.value.get<int64_t>() - now_ns), 5'000'000'000LL);
}

TEST_P(AgentProtocol, NetworkInterfacesIncludeLoopback) {
  auto r = Call("guest-network-get-interfaces");
  ASSERT_TRUE(r.ok) << r.error_desc;
  bool found = false;
  for (const auto& iface : r.value) {
    if (iface["name"] != "lo") continue;
    for (const auto& a : iface["ip-addresses"]) {
      if (a["ip-address"] == "127.0.0.1" && a["prefix"] == 8 && a["ip-address-type"] == "ipv4") {
        found = true;
      }
    }
  }
  EXPECT_TRUE(found) << r.value.dump();
}

// Polls guest-exec-status until the process has exited.
json WaitExec(AgentProtocol* t, QgaClient& c, int64_t pid) {
  for (int i = 0; i < 200; ++i) {
    auto s = c.Call("guest-exec-status", {{"pid", pid}}, Clock::now() + 10s);
    EXPECT_TRUE(s.ok) << s.error_desc;
    if (!s.ok || s.value["exited"].get<bool>()) return s.value;
    std::this_thread::sleep_for(50ms);
  }
  ADD_FAILURE() << "process " << pid << " never exited";
  return json();
}

TEST_P(AgentProtocol, ExecCapturesOutputAndExitCode) {
  auto r = Call("guest-exec", {{"path", "/bin/sh"},
                               {"arg", {"-c", "echo out; echo err >&2; exit 3"}},
                               {"capture-output", true}});
  ASSERT_TRUE(r.ok) << r.error_desc;
  json s = WaitExec(this, client(), r.value["pid"].get<int64_t>());
  EXPECT_EQ(s["exitcode"], 3);
  EXPECT_EQ(Base64Decode(s["out-data"].get<std::string>()), "out\n");
  EXPECT_EQ(Base64Decode(s["err-data"].get<std::string>()), "err\n");
}

TEST_P(AgentProtocol, ExecFeedsInputData) {
  auto r = Call("guest-exec", {{"path", "/bin/cat"},
                               {"input-data", Base64Encode("line one\nline two\n")},
                               {"capture-output", true}});
  ASSERT_TRUE(r.ok) << r.error_desc;
  json s = WaitExec(this, client(), r.value["pid"].get<int64_t>());
  EXPECT_EQ(s["exitcode"], 0);
  EXPECT_EQ(Base64Decode(s["out-data"].get<std::string>()), "line one\nline two\n");
}

TEST_P(AgentProtocol, ExecOfMissingProgramFails) {
  auto r = Call("guest-exec", {{"path", "/nonexistent/program"}});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error_class, "GenericError");
}

TEST_P(AgentProtocol, ExecStatusOfUnknownPidFails) {
  auto r = Call("guest-exec-status", {{"pid", 999999999}});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error_class, "GenericError");
}

TEST_P(AgentProtocol, UnknownCommandIsCommandNotFound) {
  auto r = Call("guest-no-such-command");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error_class, "CommandNotFound");
  EXPECT_NE(r.error_desc.find("guest-no-such-command"), std::string::npos);
}

TEST_P(AgentProtocol, BadArgumentsAreGenericErrors) {
  for (const json& args :
       {json::object(), json({{"id", "not a number"}}), json({{"id", 1}, {"extra", 2}})}) {
    auto r = Call("guest-sync", args);
    EXPECT_FALSE(r.ok) << args.dump();
    EXPECT_EQ(r.error_class, "GenericError") << args.dump();
  }
  auto r = Call("guest-ping");
  EXPECT_TRUE(r.ok) << "agent stopped serving after bad arguments";
}

TEST_P(AgentProtocol, TwoRequestsInOneWriteGetTwoRepliesInOrder) {
  ASSERT_TRUE(client().SendRaw(
      R"({"execute":"guest-sync","arguments":{"id":1}}{"execute":"guest-sync","arguments":{"id":2}})"));
  EXPECT_EQ(Next()["return"], 1);
  EXPECT_EQ(Next()["return"], 2);
}

TEST_P(AgentProtocol, RequestSplitAcrossWrites) {
  const std::string request = R"({"execute": "guest-sync", "arguments": {"id": 77}})";
  for (size_t i = 0; i < request.size(); i += 7) {
    ASSERT_TRUE(client().SendRaw(request.substr(i, 7)));
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(Next(), json({{"return", 77}}));
}

TEST_P(AgentProtocol, GarbageThenSyncDelimitedRecovers) {
  ASSERT_TRUE(client().SendRaw("this is not json {\"execute\": \"guest-pi"));
  // Sync sends 0xFF first, which discards the half request, and drops every
  // stale reply (error replies to the garbage) until its own.
  EXPECT_TRUE(client().Sync(Clock::now() + 10s));
  auto r = Call("guest-ping");
  EXPECT_TRUE(r.ok) << r.error_desc;
}

TEST_P(AgentProtocol, MalformedJsonGetsAnErrorAndServingGoesOn) {
  ASSERT_TRUE(client().SendRaw(R"({"execute": guest-ping})"));
  json reply = Next();
  ASSERT_TRUE(reply.contains("error")) << reply.dump();
  EXPECT_EQ(reply["error"]["class"], "GenericError");
  EXPECT_TRUE(client().Sync(Clock::now() + 10s));
}

TEST_P(AgentProtocol, OversizedMessageDoesNotStopTheAgent) {
  std::string big =
      R"({"execute":"guest-sync","arguments":{"id":1,"pad":")" + std::string(3 << 20, 'a') + "\"}}";
  ASSERT_TRUE(client().SendRaw(big));
  EXPECT_TRUE(client().Sync(Clock::now() + 30s));
  EXPECT_TRUE(Call("guest-ping").ok);
}

INSTANTIATE_TEST_SUITE_P(Agents, AgentProtocol, ::testing::Values(Agent::kKumo, Agent::kQemuGa),
                         AgentName);

}  // namespace
}  // namespace kumo
