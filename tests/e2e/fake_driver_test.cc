// kumod --driver fake end to end: the real kumod, whose servers run no QEMU
// but each a real kumo-agent process on the host (HostAgentDriver), seen
// through the API and checked by the agents' pids.
#include <gtest/gtest.h>
#include <signal.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "e2e/kumod_harness.h"

namespace kumo::testing {
namespace {

constexpr int kServers = 20;

std::string Name(int i) { return "fake" + std::to_string(i); }

// Whether a process with that pid exists (a zombie counts: it is not gone).
bool ProcessExists(pid_t pid) { return kill(pid, 0) == 0 || errno != ESRCH; }

// Whether `pid` is a kumo-agent serving that server's agent socket.
bool IsAgentOf(pid_t pid, const std::string& state_dir, const std::string& name) {
  std::string cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
  for (char& c : cmdline) c = c == '\0' ? ' ' : c;
  return cmdline.find("kumo-agent --listen unix:") != std::string::npos &&
         cmdline.find(state_dir) != std::string::npos &&
         cmdline.find("/" + name) != std::string::npos;
}

// Whether the process runs: it exists and is not a zombie (an orphan waits
// for whoever reaps orphans here, which kumod's tests do not control).
bool Runs(pid_t pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

bool WaitGone(pid_t pid, std::chrono::seconds timeout, bool (*present)(pid_t) = ProcessExists) {
  for (auto end = std::chrono::steady_clock::now() + timeout;
       std::chrono::steady_clock::now() < end;) {
    if (!present(pid)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return !present(pid);
}

TEST(FakeDriver, ServersRunOnRealAgentsAndEveryAgentEndsWithItsServer) {
  KumodHarness kumod;
  std::string err;
  ASSERT_TRUE(kumod.Start(&err, {"--driver", "fake"})) << err;
  EXPECT_NE(kumod.log().find("WARNING: --driver fake"), std::string::npos) << kumod.log();

  for (int i = 0; i < kServers; ++i) {
    auto r = kumod.Call("POST", "/v1/servers", {{"name", Name(i)}, {"image", "fake"}});
    ASSERT_EQ(r.status, 201) << r.body;
  }
  std::vector<pid_t> agents;
  for (int i = 0; i < kServers; ++i) {
    json s = kumod.WaitStatus(Name(i), "running", 60);
    ASSERT_EQ(s["status"], "running") << s.dump() << kumod.log();
    EXPECT_EQ(s["agent"], "ok") << s.dump();
    pid_t pid = s["qemu_pid"].get<pid_t>();
    EXPECT_TRUE(IsAgentOf(pid, kumod.state_dir(), Name(i))) << pid;
    agents.push_back(pid);
  }

  // kumo-health answers from the agent's stand-in /proc: the host's memory
  // (the diagnosis's memory check needs it), one process, no sshd.
  json memory;
  for (int i = 0; i < 150; ++i) {
    json d = kumod.Call("GET", "/v1/servers/" + Name(2) + "/diagnosis").json();
    for (const auto& c : d.value("checks", json::array())) {
      if (c.value("code", "") == "memory_pressure") memory = c;
    }
    if (memory.value("state", "") == "clear") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(memory.value("state", ""), "clear") << memory.dump() << kumod.log();
  EXPECT_NE(memory.value("detail", "").find(" available of "), std::string::npos)
      << memory.dump();

  // An agent that dies: its server turns warning, as a guest's would.
  ASSERT_EQ(kill(agents[0], SIGKILL), 0);
  json warned = kumod.WaitStatus(Name(0), "warning", 15);
  EXPECT_EQ(warned["status"], "warning") << warned.dump();
  EXPECT_NE(warned["status_reason"].get<std::string>().find("guest agent not responding"),
            std::string::npos)
      << warned.dump();
  EXPECT_FALSE(ProcessExists(agents[0])) << "kumod left the dead agent a zombie";

  // Force stop: stopped, and its agent process is gone by then.
  auto stop = kumod.Call("POST", "/v1/servers/" + Name(1) + "/actions",
                         {{"action", "stop"}, {"force", true}});
  ASSERT_EQ(stop.status, 202) << stop.body;
  json stopped = kumod.WaitStatus(Name(1), "stopped", 10);
  EXPECT_EQ(stopped["status"], "stopped") << stopped.dump();
  EXPECT_FALSE(ProcessExists(agents[1]));
  EXPECT_TRUE(ProcessExists(agents[2]));

  // Fake servers have a silent console whose FIFOs their brokers opened, so
  // that none keeps trying.
  const std::string log = kumod.log();
  for (int i = 2; i < kServers; ++i) {
    const std::string console = "console " + Name(i) + ": ";
    if (log.find(console + "waiting for") == std::string::npos) continue;
    EXPECT_NE(log.find(console + "opened "), std::string::npos) << Name(i) << "\n" << log;
  }

  for (int i = 0; i < kServers; ++i) {
    auto r = kumod.Call("DELETE", "/v1/servers/" + Name(i) + "?force=true");
    EXPECT_EQ(r.status, 202) << r.body;
  }
  for (int i = 0; i < 100 && !kumod.Call("GET", "/v1/servers").json()["servers"].empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(kumod.Call("GET", "/v1/servers").json()["servers"].empty());
  for (pid_t pid : agents) EXPECT_TRUE(WaitGone(pid, std::chrono::seconds(5))) << pid;
}

// kumod's agents never outlive it, even when it is killed.
TEST(FakeDriver, AgentsDieWithKumod) {
  KumodHarness kumod;
  std::string err;
  ASSERT_TRUE(kumod.Start(&err, {"--driver", "fake"})) << err;
  ASSERT_EQ(kumod.Call("POST", "/v1/servers", {{"name", "one"}, {"image", "fake"}}).status, 201);
  json s = kumod.WaitStatus("one", "running", 60);
  ASSERT_EQ(s["status"], "running") << s.dump();
  pid_t agent = s["qemu_pid"].get<pid_t>();
  ASSERT_TRUE(Runs(agent));
  kumod.Kill9();
  EXPECT_TRUE(WaitGone(agent, std::chrono::seconds(5), Runs));
}

}  // namespace
}  // namespace kumo::testing
