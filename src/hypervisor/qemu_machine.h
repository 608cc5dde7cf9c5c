// QemuMachine: one running QEMU process, seen through its QMP socket and a
// pidfd on its process (see ProcessWatch). It reports QMP events as
// MachineEvents and the end of the process as kExited, once and last.
//
// The process is not a child of kumod (it is started detached, in its own
// session), so dropping the machine object leaves QEMU running; Attach()
// finds it again later.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/asio.h"
#include "hypervisor/event_queue.h"
#include "hypervisor/machine.h"
#include "hypervisor/process_watch.h"
#include "hypervisor/qmp_client.h"

namespace kumo::hypervisor {

// Ok if `pid` runs now and is the QEMU of `paths` (its command line has the
// QMP chardev on paths.qmp_socket()), so a pid reused by another program is
// never taken for our QEMU. NotFound otherwise.
Status CheckIsQemuOf(pid_t pid, const MachinePaths& paths);

class QemuMachine : public Machine, public std::enable_shared_from_this<QemuMachine> {
 public:
  using Ready = std::function<void(Result<std::shared_ptr<Machine>>)>;

  static constexpr std::chrono::milliseconds kQmpConnectTimeout{5000};
  // After the process is gone, how long to wait for the rest of its QMP
  // messages (its SHUTDOWN event) before reporting kExited.
  static constexpr std::chrono::milliseconds kQmpDrainTimeout{500};

  // Checks that `pid` is the QEMU of `paths` (else NotFound), connects to its
  // QMP (else HypervisorError) and calls `ready` with the machine.
  static void Connect(boost::asio::io_context& io, const MachinePaths& paths, pid_t pid,
                      Ready ready);
  ~QemuMachine() override;

  int64_t pid() const override { return watch_->pid(); }
  const MachinePaths& paths() const override { return paths_; }
  void SetEventHandler(EventHandler handler) override;
  void Quit(Done done) override;
  void SystemReset(Done done) override;
  void PowerButton(Done done) override;
  void Kill() override;
  bool alive() const override { return !watch_->exited(); }

  // Any other QMP command (e.g. "query-status" after an Attach, to learn
  // whether the guest runs or is paused); `done` never runs after the
  // machine is destroyed.
  void Execute(const std::string& command, nlohmann::json arguments, QmpClient::Reply done);

 private:
  QemuMachine(boost::asio::io_context& io, MachinePaths paths, std::shared_ptr<ProcessWatch> watch,
              std::shared_ptr<QmpClient> qmp);
  void Start();
  void OnQmpEvent(const nlohmann::json& message);
  void OnQmpClosed();
  void OnProcessExit();
  void ReportExit();
  void Post(std::function<void()> fn);

  boost::asio::io_context& io_;
  MachinePaths paths_;
  std::shared_ptr<ProcessWatch> watch_;
  std::shared_ptr<QmpClient> qmp_;
  boost::asio::steady_timer drain_timer_;
  std::unique_ptr<EventQueue> events_;  // made in Start(): it needs weak_from_this()
  std::string last_shutdown_reason_;
  bool killed_ = false;
  bool process_exited_ = false;
  bool qmp_closed_ = false;
};

}  // namespace kumo::hypervisor
