// The fixture of ServerCore's unit tests on simulated time: FakeDriver
// machines (QEMU as seen through QMP) and FakeGuestAgents (the guest's
// agent), a real SQLite store, and a SimulatedClock that moves only when the
// test runs it, so that seconds of heartbeats, deadlines and grace periods
// take microseconds. Shared by server_core_test.cc and
// server_no_agent_test.cc.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "core/server_core.h"
#include "hypervisor/fake_driver.h"
#include "store/sqlite_store.h"
#include "support/child_process.h"
#include "support/core_fixtures.h"
#include "support/fake_guest_agent.h"
#include "support/simulated_clock.h"

namespace kumo::core {

using guestlink::ShutdownMode;
using hypervisor::FakeDriver;
using hypervisor::MachineEvent;
using testing::FakeGuestAgent;
using namespace std::chrono_literals;

class ServerCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::SqliteStore::Open(dir_ / "kumod.db");
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    store_ = std::move(*opened);
    config_ = testing::SimulatedCoreConfig(dir_.path().string());
    NewCore();
    ASSERT_TRUE(core_->RegisterImage(testing::TestImage()).ok());
  }

  // A new kumod on the same store; `before_recover` may set up its driver.
  // The driver stands for the host: its machines (QEMU processes) outlive
  // the kumod that started them.
  void NewCore(const std::function<void(FakeDriver&)>& before_recover = nullptr) {
    core_.reset();
    ledger_.reset();
    if (!driver_) driver_ = std::make_unique<FakeDriver>(io_);
    ledger_ = std::make_unique<ServerLedger>(*store_, clock_);
    core_ = std::make_unique<ServerCore>(
        CoreParts{io_, clock_, *ledger_, *store_, *driver_,
                  [this](const std::string& socket) { return ConnectAgent(socket); }},
        config_);
    if (before_recover) before_recover(*driver_);
    core_->Recover();
  }

  // The guest's agent, as kumod reaches it at each boot (and re-attach).
  std::shared_ptr<guestlink::GuestAgent> ConnectAgent(const std::string& socket) {
    // STATE_DIR/servers/NAME/agent.sock
    std::string name = std::filesystem::path(socket).parent_path().filename();
    auto agent = std::make_shared<FakeGuestAgent>(io_, clock_);
    // Like kumo's agents: the rescue boot's says it is the rescue system,
    // unless the test has the guest ignore it (roles_).
    if (auto role = roles_.find(name); role != roles_.end()) {
      agent->set_agent_role(role->second);
    } else if (auto m = driver_->machine(name);
               m && m->spec().cmdline.find("kumo.rescue") != std::string::npos) {
      agent->set_agent_role("rescue");
    }
    for (int i = 0; i < busy_role_answers_[name]; ++i) {
      agent->fail_next("guest-info", Status(codes::kGuestAgentNotResponding,
                                            "the guest agent did not answer: timed out"));
    }
    if (kumo_commands_.count(name)) agent->set_kumo_commands(true);
    if (silent_.count(name)) agent->set_ping_answers(false);
    if (frozen_.count(name)) agent->set_frozen(true);
    agents_[name].push_back(agent);
    return agent;
  }
  // The agent of the latest boot.
  FakeGuestAgent& Agent(const std::string& name) { return *agents_.at(name).back(); }
  // A guest whose agent hangs (SIGSTOP) or comes back, in this boot and the next.
  void Freeze(const std::string& name, bool frozen) {
    if (frozen) {
      frozen_.insert(name);
    } else {
      frozen_.erase(name);
    }
    if (agents_.count(name)) Agent(name).set_frozen(frozen);
  }
  // How often any boot's agent was asked to shut down in `mode`.
  int Shutdowns(const std::string& name, ShutdownMode mode) {
    int n = 0;
    for (const auto& agent : agents_[name]) {
      for (ShutdownMode m : agent->shutdowns()) n += m == mode;
    }
    return n;
  }

  // Runs the loop and simulated time until `pred` holds or `limit` passes.
  bool RunUntil(const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
    return clock_.RunUntil(pred, limit);
  }
  std::string StatusOf(const std::string& name) {
    auto r = core_->Get(name);
    return r.ok() ? std::string(ToString(r->status)) : "gone";
  }
  bool ReachStatus(const std::string& name, const std::string& status,
                   std::chrono::milliseconds limit = 10s) {
    return RunUntil([&] { return StatusOf(name) == status; }, limit);
  }
  bool HasEvent(const std::string& name, const std::string& text) {
    auto events = core_->Events(name, 0, 1000);
    if (!events.ok()) return false;
    for (const auto& e : *events) {
      if (e.message.find(text) != std::string::npos) return true;
    }
    return false;
  }
  ServerSpec Spec(const std::string& name) {
    ServerSpec s;
    s.name = name;
    s.image = "kumo-guest";
    return s;
  }
  void CreateRunning(const std::string& name) {
    auto r = core_->Create(Spec(name));
    ASSERT_TRUE(r.ok()) << r.status().message();
    ASSERT_TRUE(ReachStatus(name, "running")) << StatusOf(name);
  }
  // A server's QEMU ends while no kumod watches (from NewCore's before_recover).
  void QemuEnds(FakeDriver& driver, const std::string& name) {
    driver.machine(name)->Emit({MachineEvent::Kind::kExited, false, ""});
    io_.restart();
    io_.poll();
  }
  // What the guest does when its agent is asked to power off.
  void PowerOffWhenAsked(const std::string& name, int powerdowns_before) {
    ASSERT_TRUE(RunUntil([&] {
      return Shutdowns(name, ShutdownMode::kPowerdown) > powerdowns_before;
    })) << "the guest was not asked";
    driver_->machine(name)->Emit({MachineEvent::Kind::kShutdown, true, "guest-shutdown"});
    driver_->machine(name)->Emit({MachineEvent::Kind::kExited, false, ""});
  }

  testing::TempDir dir_;
  boost::asio::io_context io_;
  testing::SimulatedClock clock_{io_};
  std::unique_ptr<store::Store> store_;
  CoreConfig config_;
  std::unique_ptr<FakeDriver> driver_;
  std::unique_ptr<ServerLedger> ledger_;
  std::unique_ptr<ServerCore> core_;
  std::map<std::string, std::vector<std::shared_ptr<FakeGuestAgent>>> agents_;
  std::set<std::string> silent_;
  std::set<std::string> frozen_;
  std::map<std::string, std::string> roles_;      // what a server's agents say they are
  std::set<std::string> kumo_commands_;  // agents without a role that offer kumo-health
  std::map<std::string, int> busy_role_answers_;  // guest-info calls that get no answer

  // A server of an image said to run qemu-ga ("with-qemu-ga", registered on
  // first use), whose agent answers as qemu-ga does (no kumo-role).
  ServerSpec QemuGaServerSpec(const std::string& name) {
    ImageRecord ga = testing::TestImage();
    ga.name = "with-qemu-ga";
    ga.agent_kind = "qemu-ga";
    EXPECT_TRUE(core_->RegisterImage(ga).ok());
    roles_[name] = "";
    ServerSpec s = Spec(name);
    s.image = ga.name;
    return s;
  }

  // OVMF files in the test's directory (the code at `code`, which may be
  // missing), a core that uses them, a UEFI image "needs-uefi", and the spec
  // of a server of that image.
  ServerSpec UefiServerSpec(const std::string& name, const std::filesystem::path& code) {
    testing::WriteFile(dir_ / "CODE.fd", "code");
    testing::WriteFile(dir_ / "VARS.fd", "vars");
    config_.ovmf_code = code;
    config_.ovmf_vars = dir_ / "VARS.fd";
    NewCore();
    ImageRecord uefi = testing::TestImage();
    uefi.name = "needs-uefi";
    uefi.firmware = "uefi";
    EXPECT_TRUE(core_->RegisterImage(uefi).ok());
    ServerSpec s = Spec(name);
    s.image = "needs-uefi";
    return s;
  }
};

// kumo's rescue system as the host has it (its files only need to exist).
inline void InstallRescueSystem(const std::filesystem::path& dir, CoreConfig* config) {
  std::filesystem::create_directories(dir);
  testing::WriteFile((dir / "vmlinuz").string(), "kernel");
  testing::WriteFile((dir / "initrd.img").string(), "initramfs");
  config->rescue_kernel = (dir / "vmlinuz").string();
  config->rescue_initrd = (dir / "initrd.img").string();
}

}  // namespace kumo::core
