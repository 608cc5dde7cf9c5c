#include "hypervisor/qmp_event.h"

#include <gtest/gtest.h>

namespace kumo::hypervisor {
namespace {

using nlohmann::json;
using Kind = MachineEvent::Kind;

TEST(MachineEventFromQmp, Table) {
  struct Case {
    const char* message;
    std::optional<Kind> kind;
    bool guest = false;
    const char* detail = "";
  };
  const std::vector<Case> cases = {
      {R"({"event":"SHUTDOWN","data":{"guest":true,"reason":"guest-shutdown"}})", Kind::kShutdown,
       true, "guest-shutdown"},
      {R"({"event":"SHUTDOWN","data":{"guest":false,"reason":"host-qmp-quit"}})", Kind::kShutdown,
       false, "host-qmp-quit"},
      {R"({"event":"SHUTDOWN"})", Kind::kShutdown, false, ""},
      {R"({"event":"RESET","data":{"guest":true,"reason":"guest-reset"}})", Kind::kReset, true,
       "guest-reset"},
      {R"({"event":"RESET","data":{"guest":false,"reason":"host-qmp-system-reset"}})", Kind::kReset,
       false, "host-qmp-system-reset"},
      {R"({"event":"RESET","data":{"guest":"yes","reason":7}})", Kind::kReset, false, ""},
      {R"({"event":"GUEST_PANICKED","data":{"action":"pause"}})", Kind::kPanicked, true,
       "guest panicked; action pause"},
      {R"({"event":"GUEST_PANICKED","data":{"action":"pause","info":{"type":"hyper-v"}}})",
       Kind::kPanicked, true, R"(guest panicked; action pause; {"type":"hyper-v"})"},
      {R"({"event":"STOP","timestamp":{"seconds":1,"microseconds":2}})", Kind::kStopped},
      {R"({"event":"RESUME"})", Kind::kResumed},
      {R"({"event":"VSERPORT_CHANGE","data":{"id":"agent-port","open":false}})",
       Kind::kAgentChannel, true, "closed"},
      {R"({"event":"VSERPORT_CHANGE","data":{"id":"agent-port","open":true}})", Kind::kAgentChannel,
       true, "open"},
      {R"({"event":"VSERPORT_CHANGE","data":{"id":"other","open":true}})", std::nullopt},
      {R"({"event":"VSERPORT_CHANGE","data":{"id":"agent-port","open":"yes"}})", std::nullopt},
      {R"({"event":"VSERPORT_CHANGE","data":{"id":"agent-port"}})", std::nullopt},
      {R"({"event":"NIC_RX_FILTER_CHANGED","data":{}})", std::nullopt},
      {R"({"event":"POWERDOWN"})", std::nullopt},
      {R"({"return":{}})", std::nullopt},
      {R"({"event":42})", std::nullopt},
      {R"([1,2])", std::nullopt},
  };
  for (const Case& c : cases) {
    std::optional<MachineEvent> e = MachineEventFromQmp(json::parse(c.message));
    ASSERT_EQ(e.has_value(), c.kind.has_value()) << c.message;
    if (!e) continue;
    EXPECT_EQ(e->kind, *c.kind) << c.message;
    EXPECT_EQ(e->guest_initiated, c.guest) << c.message;
    EXPECT_EQ(e->detail, c.detail) << c.message;
  }
}

TEST(ExitDetail, Table) {
  EXPECT_EQ(ExitDetail("", false), "QEMU exited");
  EXPECT_EQ(ExitDetail("guest-shutdown", false), "QEMU exited after shutdown (guest-shutdown)");
  EXPECT_EQ(ExitDetail("", true), "QEMU was killed (SIGKILL)");
  EXPECT_EQ(ExitDetail("host-qmp-quit", true), "QEMU was killed (SIGKILL)");
}

}  // namespace
}  // namespace kumo::hypervisor
