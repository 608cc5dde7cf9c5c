#include "telemetry/guest_health.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <limits>

#include "agent/health.h"

namespace kumo::telemetry {
namespace {

using nlohmann::json;

// The shape src/agent/health.cc sends.
json AgentReply() {
  return json::parse(R"({
    "uptime_s": 812.5, "time": 1764600000,
    "load": {"1m": 3.5, "5m": 2.25, "15m": 1.0, "running": 4, "total": 97},
    "memory": {"total_kib": 2000000, "available_kib": 150000},
    "pressure": {"cpu": {"some": {"avg10": 12.5, "avg60": 3.0, "avg300": 1.0}},
                 "memory": {"some": {"avg10": 85.25, "avg60": 40, "avg300": 10},
                            "full": {"avg10": 60.0, "avg60": 30, "avg300": 5}},
                 "io": {"some": {"avg10": 1.5, "avg60": 1, "avg300": 1},
                        "full": {"avg10": 0.5, "avg60": 0, "avg300": 0}}},
    "sshd": {"running": true, "pid": 212, "program": "dropbear"},
    "processes": 97,
    "root_fs": {"total_kib": 1000000, "used_kib": 400000, "available_kib": 550000},
    "oom_kills": [{"time": 1764599990, "uptime_s": 802.1, "pid": 301, "process": "hog",
                   "rss_kib": 194560}],
    "agent_pid": 77})");
}

TEST(GuestHealth, ReadsEveryFieldTheAgentSends) {
  auto h = ParseGuestHealth(AgentReply());
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->agent_pid, 77);
  EXPECT_DOUBLE_EQ(h->uptime_s, 812.5);
  EXPECT_EQ(h->guest_time_ms, 1764600000000);
  EXPECT_EQ(h->load1, 3.5);
  EXPECT_EQ(h->load5, 2.25);
  EXPECT_EQ(h->load15, 1.0);
  EXPECT_EQ(h->mem_total_kib, 2000000);
  EXPECT_EQ(h->mem_available_kib, 150000);
  EXPECT_EQ(h->psi_cpu_some10, 12.5);
  EXPECT_EQ(h->psi_mem_some10, 85.25);
  EXPECT_EQ(h->psi_mem_full10, 60.0);
  EXPECT_EQ(h->psi_io_some10, 1.5);
  EXPECT_EQ(h->psi_io_full10, 0.5);
  EXPECT_EQ(h->sshd_running, true);
  EXPECT_EQ(h->sshd_pid, 212);
  EXPECT_EQ(h->sshd_program, "dropbear");
  EXPECT_EQ(h->processes, 97);
  EXPECT_EQ(h->root_total_kib, 1000000);
  EXPECT_EQ(h->root_used_kib, 400000);
  EXPECT_EQ(h->root_available_kib, 550000);
  ASSERT_EQ(h->oom_kills.size(), 1u);
  EXPECT_EQ(h->oom_kills[0].time_ms, 1764599990000);
  EXPECT_EQ(h->oom_kills[0].pid, 301);
  EXPECT_EQ(h->oom_kills[0].process, "hog");
  EXPECT_EQ(h->oom_kills[0].rss_kib, 194560u);
}

// The producer itself, on this host: whatever the host's kernel offers, the
// fields the agent fills in arrive typed.
TEST(GuestHealth, ReadsTheRealAgentsSnapshotOfThisHost) {
  std::deque<agent::OomKill> kills = {{5'000'000, 42, "victim", 1024}};
  auto h = ParseGuestHealth(agent::CollectHealth(kills));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->agent_pid, getpid());
  EXPECT_GT(h->uptime_s, 0);
  EXPECT_TRUE(h->load1 && h->load5 && h->load15);
  ASSERT_TRUE(h->mem_total_kib && h->mem_available_kib);
  EXPECT_GT(*h->mem_total_kib, 0);
  EXPECT_TRUE(h->sshd_running.has_value());
  EXPECT_GT(h->processes, 0);
  EXPECT_TRUE(h->root_total_kib && h->root_used_kib && h->root_available_kib);
  ASSERT_EQ(h->oom_kills.size(), 1u);
  EXPECT_EQ(h->oom_kills[0].pid, 42);
  EXPECT_EQ(h->oom_kills[0].process, "victim");
  EXPECT_GT(h->oom_kills[0].time_ms, 0);
}

TEST(GuestHealth, NotAnObjectIsTheOnlyError) {
  for (const json& j : {json(nullptr), json(1), json("health"), json::array({AgentReply()})}) {
    auto h = ParseGuestHealth(j);
    EXPECT_FALSE(h.ok()) << j.dump();
  }
  auto empty = ParseGuestHealth(json::object());
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->agent_pid, 0);
  EXPECT_EQ(empty->uptime_s, -1);
  EXPECT_FALSE(empty->load1 || empty->mem_total_kib || empty->psi_mem_some10 ||
               empty->sshd_running || empty->root_used_kib);
  EXPECT_TRUE(empty->oom_kills.empty());
}

// Each case replaces one field of a good reply (a JSON pointer) with hostile
// values; the field must come out absent and the others intact.
TEST(GuestHealth, AHostileFieldIsLeftAbsentAndTheRestKept) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  struct Case {
    const char* pointer;
    json value;
  };
  const Case cases[] = {
      {"/agent_pid", "77"},
      {"/agent_pid", -5},
      {"/agent_pid", 1e300},
      {"/agent_pid", 77.5},
      {"/agent_pid", 18446744073709551615ull},
      {"/uptime_s", "NaN"},
      {"/uptime_s", nan},
      {"/uptime_s", -1.0},
      {"/load/1m", "NaN"},
      {"/load/1m", nan},
      {"/load/1m", inf},
      {"/load/1m", -0.5},
      {"/load/1m", json::array({1})},
      {"/load", "high"},
      {"/memory/total_kib", -2000000},
      {"/memory/total_kib", 1e300},
      {"/memory/available_kib", nullptr},
      {"/memory", json::array()},
      {"/pressure/memory/some/avg10", 100.5},
      {"/pressure/memory/some/avg10", -1},
      {"/pressure/memory/some/avg10", "85"},
      {"/pressure/memory/some", 85},
      {"/pressure", nullptr},
      {"/sshd/running", "true"},
      {"/sshd/running", 1},
      {"/sshd/pid", 99999999},
      {"/sshd/program", 42},
      {"/processes", -1},
      {"/processes", "97"},
      {"/root_fs/used_kib", -400000},
      {"/root_fs/used_kib", "400000"},
      {"/oom_kills", json::object()},
      {"/oom_kills", "hog"},
  };
  for (const auto& c : cases) {
    json reply = AgentReply();
    reply[json::json_pointer(c.pointer)] = c.value;
    auto h = ParseGuestHealth(reply);
    ASSERT_TRUE(h.ok()) << c.pointer;
    std::string at = std::string(c.pointer) + " = " + c.value.dump();
    std::string p = c.pointer;
    auto hit = [&](const char* prefix) { return p.rfind(prefix, 0) == 0; };
    EXPECT_EQ(h->agent_pid, hit("/agent_pid") ? 0 : 77) << at;
    EXPECT_EQ(h->uptime_s, hit("/uptime_s") ? -1 : 812.5) << at;
    EXPECT_EQ(h->load1.has_value(), !hit("/load")) << at;
    EXPECT_EQ(h->load5.has_value(), p != "/load") << at;
    EXPECT_EQ(h->mem_total_kib.has_value(), !hit("/memory/total") && p != "/memory") << at;
    EXPECT_EQ(h->mem_available_kib.has_value(), !hit("/memory/avail") && p != "/memory") << at;
    EXPECT_EQ(h->psi_mem_some10.has_value(), !hit("/pressure/memory/some") && p != "/pressure")
        << at;
    EXPECT_EQ(h->psi_cpu_some10.has_value(), p != "/pressure") << at;
    EXPECT_EQ(h->sshd_running.has_value(), !hit("/sshd/running")) << at;
    EXPECT_EQ(h->sshd_pid, hit("/sshd/pid") ? 0 : 212) << at;
    EXPECT_EQ(h->sshd_program, hit("/sshd/program") ? "" : "dropbear") << at;
    EXPECT_EQ(h->processes, hit("/processes") ? 0 : 97) << at;
    EXPECT_EQ(h->root_used_kib.has_value(), !hit("/root_fs/used")) << at;
    EXPECT_EQ(h->root_total_kib.has_value(), true) << at;
    EXPECT_EQ(h->oom_kills.size(), hit("/oom_kills") ? 0u : 1u) << at;
  }
}

TEST(GuestHealth, AMillionOomEntriesKeepTheNewest32Bounded) {
  json reply = AgentReply();
  // A million entries: numbers (no victims: 16 bytes each keeps the test
  // light), then 100 real ones.
  json kills = json::array();
  for (int i = 0; i < 1'000'000 - 100; ++i) kills.push_back(i);
  for (int i = 1'000'000 - 100; i < 1'000'000; ++i) {
    kills.push_back(
        {{"time", 1764500000 + i}, {"pid", 1000 + i % 1000}, {"process", "p"}, {"rss_kib", i}});
  }
  kills.push_back("not an object");
  kills.push_back(
      {{"time", "soon"}, {"pid", -1}, {"process", std::string(1 << 20, 'A')}, {"rss_kib", -4}});
  reply["oom_kills"] = std::move(kills);
  auto h = ParseGuestHealth(reply);
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->oom_kills.size(), kMaxOomVictims);
  // Oldest first; the last is the hostile entry, with only its bounded name.
  EXPECT_EQ(h->oom_kills[0].time_ms, (1764500000 + 1'000'000 - 31) * 1000ll);
  const OomVictim& last = h->oom_kills.back();
  EXPECT_EQ(last.time_ms, 0);
  EXPECT_EQ(last.pid, 0);
  EXPECT_EQ(last.rss_kib, 0u);
  EXPECT_EQ(last.process, std::string(kMaxProcessName, 'A'));
}

TEST(GuestHealth, NamesAreBoundedAndCleanedOfControlCharacters) {
  json reply = AgentReply();
  reply["oom_kills"][0]["process"] = "ho\x1b[2Jg\n\r";
  reply["sshd"]["program"] = std::string(1 << 20, 's');
  auto h = ParseGuestHealth(reply);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->oom_kills[0].process, "ho[2Jg");
  EXPECT_EQ(h->sshd_program.size(), kMaxProcessName);
}

TEST(GuestHealth, PressureNullMeansAKernelWithoutPsi) {
  json reply = AgentReply();
  reply["pressure"] = nullptr;
  auto h = ParseGuestHealth(reply);
  ASSERT_TRUE(h.ok());
  EXPECT_FALSE(h->psi_cpu_some10 || h->psi_mem_some10 || h->psi_mem_full10 || h->psi_io_some10 ||
               h->psi_io_full10);
  EXPECT_EQ(h->mem_available_kib, 150000);
}

}  // namespace
}  // namespace kumo::telemetry
