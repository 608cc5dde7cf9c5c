#include "hypervisor/host_agent_driver.h"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "hypervisor/fake_driver.h"
#include "hypervisor/launch_files.h"
#include "hypervisor/process_watch.h"

namespace kumo::hypervisor {

namespace {

namespace asio = boost::asio;

Status Error(const std::string& what) {
  return Status(codes::kHypervisorError, what + ": " + strerror(errno));
}

// A unix socket at `path` that is listened on and never accepted from: a
// console broker connects once and reads nothing, as from a silent guest.
Result<int> SilentConsole(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return Status(codes::kHypervisorError, "console socket path too long: " + path);
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  unlink(path.c_str());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error("socket");
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 4) != 0) {
    Status s = Error("cannot listen on " + path);
    close(fd);
    return s;
  }
  return fd;
}

// The agent process of one machine, reaped exactly once: when it dies by
// itself (seen on the loop), or when the machine ends it.
struct AgentProcess {
  std::shared_ptr<ProcessWatch> watch;
  bool reaped = false;

  void Reap() {
    if (!reaped && watch->Reap()) reaped = true;
  }
  // SIGKILL, then waits (bounded) for the exit and reaps: when this returns,
  // the process is gone.
  void Stop() {
    if (reaped) return;
    (void)watch->Signal(SIGKILL);
    for (int i = 0; i < 400 && !watch->exited(); ++i) {
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    Reap();
  }
};

class HostAgentMachine : public Machine {
 public:
  HostAgentMachine(std::shared_ptr<FakeMachine> power, std::shared_ptr<AgentProcess> agent,
                   int console_fd)
      : power_(std::move(power)), agent_(std::move(agent)), console_fd_(console_fd) {}
  ~HostAgentMachine() override {
    agent_->Stop();
    close(console_fd_);
  }

  int64_t pid() const override { return power_->pid(); }
  const MachinePaths& paths() const override { return power_->paths(); }
  void SetEventHandler(EventHandler handler) override {
    if (!handler) return power_->SetEventHandler(nullptr);
    // The agent goes with the machine, before anyone learns it exited.
    power_->SetEventHandler([agent = agent_, handler = std::move(handler)](const MachineEvent& e) {
      if (e.kind == MachineEvent::Kind::kExited) agent->Stop();
      handler(e);
    });
  }
  void Quit(Done done) override { power_->Quit(std::move(done)); }
  void SystemReset(Done done) override { power_->SystemReset(std::move(done)); }
  void PowerButton(Done done) override { power_->PowerButton(std::move(done)); }
  void Kill() override { power_->Kill(); }
  bool alive() const override { return power_->alive(); }

 private:
  std::shared_ptr<FakeMachine> power_;
  std::shared_ptr<AgentProcess> agent_;
  int console_fd_;
};

}  // namespace

Result<std::shared_ptr<Machine>> HostAgentDriver::Start(const MachineSpec& spec) {
  const MachinePaths& paths = spec.paths;
  if (Status s = PrepareRunDir(paths.run_dir, run_as_); !s.ok()) return s;
  unlink(paths.agent_socket().c_str());
  auto console = SilentConsole(paths.console_socket());
  if (!console.ok()) return console.status();
  SpawnOptions options;
  options.run_as = run_as_;
  options.die_with_kumod = true;
  auto pid = SpawnProcess({agent_path_, "--listen", "unix:" + paths.agent_socket(), "--allow-exec"},
                          paths.run_dir + "/agent.log", options);
  if (!pid.ok()) {
    close(*console);
    return pid.status();
  }
  auto agent = std::make_shared<AgentProcess>();
  auto watch = ProcessWatch::Open(io_, *pid);
  if (!watch.ok()) {  // it died at once; it is our child, so reap it
    waitpid(*pid, nullptr, 0);
    close(*console);
    return Status(codes::kHypervisorError,
                  agent_path_ + " exited at once; see " + paths.run_dir + "/agent.log");
  }
  agent->watch = *watch;
  agent->watch->OnExit([weak = std::weak_ptr<AgentProcess>(agent)] {
    if (auto a = weak.lock()) a->Reap();
  });
  std::ofstream(paths.pidfile()) << *pid << "\n";
  auto power = FakeMachine::Create(io_, spec, *pid);
  power->set_power_button_powers_off(true);
  return std::shared_ptr<Machine>(std::make_shared<HostAgentMachine>(power, agent, *console));
}

void HostAgentDriver::Launch(const MachineSpec& spec, MachineReady done) {
  asio::post(io_, [done = std::move(done), result = Start(spec)]() { done(result); });
}

void HostAgentDriver::Attach(const MachineSpec&, int64_t pid, MachineReady done) {
  asio::post(io_, [done = std::move(done), pid]() {
    done(Status(codes::kNotFound, "no fake machine with pid " + std::to_string(pid) +
                                      ": they end with the kumod that ran them"));
  });
}

}  // namespace kumo::hypervisor
