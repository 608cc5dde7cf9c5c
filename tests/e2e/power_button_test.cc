// End to end: kumo stop --acpi presses the ACPI power button (QMP
// system_powerdown) of a real kumo guest whose agent is frozen (SIGSTOP), and
// the guest powers off by itself (busybox acpid → poweroff), no force needed.
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>

#include "e2e/kumod_harness.h"

namespace kumo {
namespace {

using testing::json;
using testing::KumodHarness;
using Clock = std::chrono::steady_clock;

constexpr double kBootTimeout = 180;  // TCG on a loaded 2-core CI machine

TEST(PowerButton, StopAcpiPowersOffTheStockGuestWhileItsAgentIsStopped) {
  KumodHarness kumod;
  std::string err;
  ASSERT_TRUE(kumod.Start(&err)) << err;
  auto created = kumod.Call("POST", "/v1/servers", {{"name", "acpi"}, {"memory_mib", 192}});
  ASSERT_EQ(created.status, 201) << created.body;
  json s = kumod.WaitStatus("acpi", "running", kBootTimeout);
  ASSERT_EQ(s["status"], "running") << s.dump();

  auto exec =
      kumod.Exec("acpi", {"/bin/sh", "-c", "(sleep 1; kill -STOP $PPID) >/dev/null 2>&1 &"});
  ASSERT_EQ(exec.status, 200) << exec.body;
  s = kumod.WaitStatus("acpi", "warning", 15);
  ASSERT_EQ(s["status"], "warning") << s.dump();

  // The graceful stop is refused, and its hint offers the power button first.
  auto stop = kumod.Call("POST", "/v1/servers/acpi/actions", {{"action", "stop"}});
  ASSERT_EQ(stop.status, 409) << stop.body;
  std::string hint = stop.json()["error"]["hint"];
  EXPECT_NE(hint.find("kumo stop --acpi acpi"), std::string::npos) << hint;
  EXPECT_LT(hint.find("--acpi"), hint.find("--force")) << hint;
  auto both = kumod.Call("POST", "/v1/servers/acpi/actions",
                         {{"action", "stop"}, {"acpi", true}, {"force", true}});
  EXPECT_EQ(both.status, 400) << both.body;

  auto pressed = Clock::now();
  std::string out;
  ASSERT_EQ(kumod.RunCli({"stop", "--acpi", "acpi", "--wait", "--timeout", "60"}, &out), 0)
      << out << "\n"
      << kumod.log();
  double took = std::chrono::duration<double>(Clock::now() - pressed).count();
  std::cout << "stop --acpi: the guest powered off " << took << " s after the press\n";
  s = kumod.Server("acpi");
  EXPECT_EQ(s["status"], "stopped") << s.dump();
  EXPECT_EQ(s["power"], "off");
  EXPECT_TRUE(kumod.HasEvent("acpi", "power button pressed (ACPI)"));
  EXPECT_TRUE(kumod.HasEvent("acpi", "the guest powered off"));
  EXPECT_FALSE(kumod.HasEvent("acpi", "stopped (forced)")) << "it was not forced";
  auto log = kumod.Call("GET", "/v1/servers/acpi/console-log").json().value("text", "");
  EXPECT_NE(log.find("kumo: power button pressed, powering off"), std::string::npos) << log;
}

}  // namespace
}  // namespace kumo
