// End to end: QEMU boots the kumo guest image; the test talks to kumo-agent
// over the real virtio-serial channel, checks what the guest reports, sees
// the agent survive an OOM storm and come back after being killed, and powers
// the guest off with guest-shutdown.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "common/base64.h"
#include "e2e/guest_vm.h"
#include "guestlink/qga_client.h"

namespace kumo {
namespace {

using guestlink::json;
using guestlink::QgaClient;
using guestlink::QgaReply;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

class GuestBoot : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string err;
    ASSERT_TRUE(vm_.Boot(&err)) << err;
    ASSERT_TRUE(agent_.Connect(vm_.agent_socket(), Clock::now() + 30s, &err)) << err;
    auto boot_started = Clock::now();
    ASSERT_TRUE(agent_.Sync(Clock::now() + 90s)) << "agent never answered; console:\n"
                                                 << vm_.serial_log();
    boot_seconds_ = std::chrono::duration<double>(Clock::now() - boot_started).count();
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "--- guest console ---\n" << vm_.serial_log() << "\n";
  }

  QgaReply Call(const std::string& cmd, const json& args = json()) {
    return agent_.Call(cmd, args, Clock::now() + 20s);
  }

  // Runs a program in the guest through guest-exec; returns its status.
  json Exec(const std::string& path, const std::vector<std::string>& args) {
    auto r = Call("guest-exec", {{"path", path}, {"arg", args}, {"capture-output", true}});
    EXPECT_TRUE(r.ok) << r.error_desc;
    if (!r.ok) return json();
    for (int i = 0; i < 300; ++i) {
      auto s = Call("guest-exec-status", {{"pid", r.value["pid"]}});
      EXPECT_TRUE(s.ok) << s.error_desc;
      if (!s.ok || s.value["exited"].get<bool>()) return s.value;
      std::this_thread::sleep_for(100ms);
    }
    ADD_FAILURE() << path << " did not finish";
    return json();
  }

  // CPU time (user + system, clock ticks) the process has used.
  int64_t CpuTicks(int64_t pid) {
    json s = Exec("/bin/cat", {"/proc/" + std::to_string(pid) + "/stat"});
    std::string stat = *Base64Decode(s["out-data"].get<std::string>());
    std::istringstream in(stat.substr(stat.rfind(')') + 2));
    std::vector<std::string> f{std::istream_iterator<std::string>(in), {}};
    return std::stoll(f[11]) + std::stoll(f[12]);  // utime, stime (fields 14, 15)
  }

  testing::GuestVm vm_;
  QgaClient agent_;
  double boot_seconds_ = 0;
};

TEST_F(GuestBoot, AgentAnswersSurvivesAndPowersOff) {
  std::cout << "agent answered " << boot_seconds_ << " s after QEMU started\n";
  ASSERT_TRUE(Call("guest-ping").ok);

  // The guest runs the kernel the image was built with.
  std::ifstream image_json(vm_.image_file("image.json"));
  json image = json::parse(image_json);
  auto os = Call("guest-get-osinfo");
  ASSERT_TRUE(os.ok) << os.error_desc;
  EXPECT_EQ(os.value["kernel-release"], image["kernel_release"]);
  EXPECT_EQ(os.value["id"], "kumo");

  // DHCP from QEMU's user network gives eth0 10.0.2.15/24.
  bool has_address = false;
  for (int i = 0; i < 50 && !has_address; ++i) {
    auto net = Call("guest-network-get-interfaces");
    ASSERT_TRUE(net.ok) << net.error_desc;
    for (const auto& iface : net.value) {
      for (const auto& a : iface["ip-addresses"]) {
        if (iface["name"] == "eth0" && a["ip-address"] == "10.0.2.15" && a["prefix"] == 24) {
          has_address = true;
        }
      }
    }
    if (!has_address) std::this_thread::sleep_for(200ms);
  }
  EXPECT_TRUE(has_address) << "eth0 never got 10.0.2.15/24";

  auto health = Call("kumo-health");
  ASSERT_TRUE(health.ok) << health.error_desc;
  EXPECT_GT(health.value["memory"]["total_kib"].get<int64_t>(), 100 * 1024);
  EXPECT_TRUE(health.value["sshd"]["running"].get<bool>()) << health.value.dump();
  EXPECT_TRUE(health.value["pressure"]["memory"]["some"]["avg10"].is_number());
  EXPECT_EQ(health.value["oom_kills"], json::array());
  const int64_t agent_pid = health.value["agent_pid"].get<int64_t>();

  // An OOM storm: the killer takes the memory hog, the agent stays (it has
  // oom_score_adj -1000) and reports the kill.
  auto hog = Call("guest-exec", {{"path", "/bin/sh"},
                                 {"arg", {"-c", "x=0123456789abcdef; while :; do x=$x$x; done"}}});
  ASSERT_TRUE(hog.ok) << hog.error_desc;
  json kills;
  for (int i = 0; i < 120 && kills.empty(); ++i) {
    std::this_thread::sleep_for(500ms);
    auto h = Call("kumo-health");
    ASSERT_TRUE(h.ok) << "agent stopped answering during the OOM storm: " << h.error_desc;
    kills = h.value["oom_kills"];
  }
  ASSERT_FALSE(kills.empty()) << "no OOM kill reported";
  EXPECT_EQ(kills[0]["pid"], hog.value["pid"]);
  EXPECT_EQ(kills[0]["process"], "sh");
  EXPECT_GT(kills[0]["rss_kib"].get<int64_t>(), 50 * 1024);
  EXPECT_EQ(Call("kumo-health").value["agent_pid"], agent_pid) << "the agent itself was killed";

  // No busy loop while the host side is away: the port reports HUP the whole
  // time, and the agent must sleep through it.
  int64_t ticks_before = CpuTicks(agent_pid);
  agent_.Close();
  std::this_thread::sleep_for(3s);
  std::string err;
  ASSERT_TRUE(agent_.Connect(vm_.agent_socket(), Clock::now() + 10s, &err)) << err;
  ASSERT_TRUE(agent_.Sync(Clock::now() + 10s));
  int64_t ticks_after = CpuTicks(agent_pid);
  std::cout << "agent CPU while the host was disconnected for 3 s: " << (ticks_after - ticks_before)
            << " ticks\n";
  // A spinning agent shows at least 300 ticks (USER_HZ 100, 3 s); an idle one
  // a few, though a starved TCG guest on a host at load 30 charged 75 ticks
  // to it (the guest's clock runs on while its vCPU waits for the host).
  EXPECT_LT(ticks_after - ticks_before, 150) << "agent spins while the host is disconnected";

  // A host that connects after a while away gets an answer to its very first
  // request: it can reach the guest before the port learns the host is there.
  for (int i = 0; i < 5; ++i) {
    agent_.Close();
    std::this_thread::sleep_for(1500ms);
    ASSERT_TRUE(agent_.Connect(vm_.agent_socket(), Clock::now() + 10s, &err)) << err;
    auto first = agent_.Call("guest-sync", {{"id", 1000 + i}}, Clock::now() + 5s);
    EXPECT_TRUE(first.ok && first.value == 1000 + i)
        << "first request after reconnect " << i << ": " << first.error_desc;
  }

  // Killed, the agent is respawned by init and answers again within 2 s.
  ASSERT_TRUE(agent_.SendRaw(
      json({{"execute", "guest-exec"},
            {"arguments", {{"path", "/bin/sh"}, {"arg", {"-c", "kill -KILL $PPID"}}}}})
          .dump()));
  auto killed_at = Clock::now();
  int64_t new_pid = agent_pid;
  while (new_pid == agent_pid && Clock::now() - killed_at < 10s) {
    // Short deadlines: a request written while no agent has the port open is
    // lost, so waiting long for its reply would only measure the deadline.
    if (!agent_.Sync(Clock::now() + 100ms, 100ms)) continue;
    auto h = agent_.Call("kumo-health", json(), Clock::now() + 500ms);
    if (h.ok) new_pid = h.value["agent_pid"].get<int64_t>();
  }
  double back_after = std::chrono::duration<double>(Clock::now() - killed_at).count();
  std::cout << "agent answered again " << back_after << " s after it was killed\n";
  EXPECT_NE(new_pid, agent_pid) << "the agent was not replaced";
  EXPECT_LT(back_after, 2.0);

  // guest-shutdown: no reply, and QEMU exits because the guest powered off.
  ASSERT_TRUE(agent_.SendRaw(R"({"execute":"guest-shutdown"})"));
  auto reply = agent_.ReadMessage(Clock::now() + 5s);
  EXPECT_FALSE(reply.has_value()) << "guest-shutdown replied: " << reply->dump();
  int status = vm_.qemu().WaitExit(60s);
  ASSERT_NE(status, -1) << "QEMU still running 60 s after guest-shutdown";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  EXPECT_NE(vm_.serial_log().find("reboot: Power down"), std::string::npos);
}

}  // namespace
}  // namespace kumo
