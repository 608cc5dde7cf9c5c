// HostAgentDriver: kumod's `--driver fake`, for benchmarks and panel tests,
// never for users' servers. A machine runs no QEMU: its power is a
// FakeMachine's (Quit, reset, power button and Kill behave as QEMU's do
// through QMP), and its guest agent is real — a kumo-agent process on the
// host listening on the machine's agent socket (kumo-agent --listen
// unix:RUN_DIR/agent.sock --allow-exec --proc RUN_DIR/proc), so that
// heartbeat, health polls, exec and the diagnosis run for real, at the scale
// of thousands of servers. Its kumo-health reads a stand-in /proc: the
// host's uptime, load, memory and pressure, and of the processes only the
// agent itself (the host's own /proc lists every agent, and each poll would
// read all their names).
//
// Promises:
//  - the agent is started from an argv (as `run_as` when set), its output
//    in RUN_DIR/agent.log, its pid in RUN_DIR/qemu.pid and as the machine's
//    pid (host figures read its /proc);
//  - it is stopped by its pid (SIGKILL) and reaped when the machine exits,
//    before the exit is reported, or when the machine is dropped; it gets
//    SIGKILL if kumod dies (PR_SET_PDEATHSIG), so none outlives kumod;
//  - an agent that dies by itself (a test kills it) is reaped; the machine
//    runs on, as a guest whose agent died;
//  - the console FIFOs are made and held open, and nothing is ever written
//    to them (a guest that prints nothing);
//  - machines do not survive kumod: Attach finds none, FindRunning is empty.
// exec runs on the host, as `run_as` (kumod's user without it).
#pragma once

#include <optional>
#include <string>

#include "common/asio.h"
#include "hypervisor/machine.h"
#include "hypervisor/spawn.h"

namespace kumo::hypervisor {

class HostAgentDriver : public HypervisorDriver {
 public:
  HostAgentDriver(boost::asio::io_context& io, std::string agent_path, std::optional<RunAs> run_as)
      : io_(io), agent_path_(std::move(agent_path)), run_as_(run_as) {}

  // Errors: HypervisorError (the run directory, the console socket or the
  // agent could not be made).
  void Launch(const MachineSpec& spec, MachineReady done) override;
  // NotFound: fake machines end with the kumod that ran them.
  void Attach(const MachineSpec& spec, int64_t pid, MachineReady done) override;
  std::map<std::string, std::vector<int64_t>> FindRunning(
      const std::vector<MachinePaths>&) override {
    return {};
  }
  void KillStray(const MachinePaths&, int64_t) override {}

 private:
  Result<std::shared_ptr<Machine>> Start(const MachineSpec& spec);

  boost::asio::io_context& io_;
  std::string agent_path_;
  std::optional<RunAs> run_as_;
};

}  // namespace kumo::hypervisor
