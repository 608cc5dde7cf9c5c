#include "hypervisor/host_agent_driver.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "hypervisor/fake_driver.h"
#include "hypervisor/launch_files.h"
#include "hypervisor/process_watch.h"

namespace kumo::hypervisor {

namespace {

namespace asio = boost::asio;

Status Error(const std::string& what) {
  return Status(codes::kHypervisorError, what + ": " + strerror(errno));
}

// The console's FIFOs, made and held open read-write as QEMU holds them, for
// a guest that prints nothing: the console broker opens them and reads nothing.
class SilentConsole {
 public:
  static Result<std::unique_ptr<SilentConsole>> Open(const MachinePaths& paths,
                                                     const std::optional<RunAs>& run_as) {
    if (Status s = MakeConsoleFifos(paths, run_as); !s.ok()) return s;
    auto console = std::make_unique<SilentConsole>();
    for (const std::string& fifo : {paths.console_output_fifo(), paths.console_input_fifo()}) {
      int fd = open(fifo.c_str(), O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) return Error("cannot open " + fifo);
      console->fds_.push_back(fd);
    }
    return console;
  }
  SilentConsole() = default;
  ~SilentConsole() {
    for (int fd : fds_) close(fd);
  }
  SilentConsole(const SilentConsole&) = delete;
  SilentConsole& operator=(const SilentConsole&) = delete;

 private:
  std::vector<int> fds_;
};

// The agent's /proc stand-in, RUN_DIR/proc, for its kumo-health: the host's
// figures (uptime, load, memory, pressure) as links to the host's files, and
// of the processes only the agent itself. The host's /proc lists every fake
// server's agent, and kumo-health reads each process's name: 1,000 agents
// polled every 5 s would read 200,000 files a second, all on the host's cores.
// Links are made through the directory's descriptor, never by path, because
// the run directory belongs to the QEMU user.
class StandInProc {
 public:
  static Result<std::unique_ptr<StandInProc>> Make(const std::string& run_dir) {
    std::string dir = run_dir + "/proc";
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);  // a link left there is removed, never followed
    if (mkdir(dir.c_str(), 0755) != 0) return Error("cannot make " + dir);
    auto proc = std::make_unique<StandInProc>();
    proc->fd_ = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (proc->fd_ < 0) return Error("cannot open " + dir);
    // kumod's umask keeps its files to itself; the agent may run as another user.
    if (fchmod(proc->fd_, 0755) != 0) return Error("cannot open " + dir + " to the agent");
    for (const char* name : {"uptime", "loadavg", "meminfo", "pressure"}) {
      if (Status s = proc->Link(std::string("/proc/") + name, name); !s.ok()) return s;
    }
    proc->path_ = dir;
    return proc;
  }
  StandInProc() = default;
  ~StandInProc() {
    if (fd_ >= 0) close(fd_);
  }
  StandInProc(const StandInProc&) = delete;
  StandInProc& operator=(const StandInProc&) = delete;

  const std::string& path() const { return path_; }
  Status AddProcess(pid_t pid) { return Link("/proc/" + std::to_string(pid), std::to_string(pid)); }

 private:
  Status Link(const std::string& target, const std::string& name) {
    if (symlinkat(target.c_str(), fd_, name.c_str()) != 0) return Error("cannot link " + name);
    return Status::Ok();
  }

  int fd_ = -1;
  std::string path_;
};

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
                   std::unique_ptr<SilentConsole> console)
      : power_(std::move(power)), agent_(std::move(agent)), console_(std::move(console)) {}
  ~HostAgentMachine() override { agent_->Stop(); }

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
  std::unique_ptr<SilentConsole> console_;
};

}  // namespace

Result<std::shared_ptr<Machine>> HostAgentDriver::Start(const MachineSpec& spec) {
  const MachinePaths& paths = spec.paths;
  if (Status s = PrepareRunDir(paths.run_dir, run_as_); !s.ok()) return s;
  unlink(paths.agent_socket().c_str());
  auto console = SilentConsole::Open(paths, run_as_);
  if (!console.ok()) return console.status();
  auto proc = StandInProc::Make(paths.run_dir);
  if (!proc.ok()) return proc.status();
  SpawnOptions options;
  options.run_as = run_as_;
  options.die_with_kumod = true;
  auto pid = SpawnProcess({agent_path_, "--listen", "unix:" + paths.agent_socket(), "--allow-exec",
                           "--proc", (*proc)->path()},
                          paths.run_dir + "/agent.log", options);
  if (!pid.ok()) return pid.status();
  (void)(*proc)->AddProcess(*pid);  // without it, health counts no process: still an answer
  auto agent = std::make_shared<AgentProcess>();
  auto watch = ProcessWatch::Open(io_, *pid);
  if (!watch.ok()) {  // it died at once; it is our child, so reap it
    waitpid(*pid, nullptr, 0);
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
  return std::shared_ptr<Machine>(
      std::make_shared<HostAgentMachine>(power, agent, std::move(*console)));
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
