#include "hypervisor/qemu_driver.h"

#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "hypervisor/process_watch.h"
#include "hypervisor/qemu_argv.h"
#include "hypervisor/qemu_machine.h"
#include "hypervisor/qemu_survey.h"
#include "hypervisor/spawn.h"

namespace kumo::hypervisor {

namespace asio = boost::asio;
using Ready = HypervisorDriver::MachineReady;

namespace {

Status HypervisorError(const std::string& message, const std::string& hint = "") {
  return Status(codes::kHypervisorError, message, hint);
}

// mkdir -p, every directory it creates 0700; the last one is made 0700 even
// if it existed, and must belong to us.
Status MakeRunDir(const std::string& dir) {
  for (size_t slash = 1; slash != std::string::npos;) {
    slash = dir.find('/', slash + 1);
    std::string prefix = dir.substr(0, slash);
    if (mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      return HypervisorError("cannot create " + prefix + ": " + strerror(errno));
    }
  }
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return HypervisorError(dir + " is not a directory");
  }
  if (st.st_uid != geteuid()) return HypervisorError(dir + " belongs to another user");
  if (chmod(dir.c_str(), 0700) != 0) {
    return HypervisorError("cannot chmod " + dir + ": " + strerror(errno));
  }
  return Status::Ok();
}

Status CheckReadable(const std::string& what, const std::string& path) {
  if (path.empty()) return Status::Ok();
  struct stat st {};
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || access(path.c_str(), R_OK) != 0) {
    return Status(codes::kNotFound,
                  "the image's " + what + " " + path + " is missing or unreadable",
                  "rebuild or re-register the image");
  }
  return Status::Ok();
}

bool Exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

off_t FileSize(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? st.st_size : 0;
}

pid_t ReadPidfile(const std::string& path) {
  std::ifstream in(path);
  long pid = 0;
  if (!(in >> pid) || pid <= 0 || pid > INT32_MAX) return -1;
  return static_cast<pid_t>(pid);
}

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("signal ") + strsignal(WTERMSIG(status));
  return "wait status " + std::to_string(status);
}

// Kills the QEMU a failed launch left behind, if the pidfile names it.
void KillLeftover(const MachinePaths& paths) {
  pid_t pid = ReadPidfile(paths.pidfile());
  if (pid > 0 && CheckIsQemuOf(pid, paths).ok()) kill(pid, SIGKILL);
}

// One Launch, from validation to a connected machine. It keeps itself alive
// through the callbacks it has pending.
class LaunchOperation : public std::enable_shared_from_this<LaunchOperation> {
 public:
  LaunchOperation(asio::io_context& io, MachineSpec spec, std::string qemu_binary,
                  std::string qemu_img, Ready done)
      : io_(io),
        spec_(std::move(spec)),
        qemu_binary_(std::move(qemu_binary)),
        qemu_img_(std::move(qemu_img)),
        timer_(io),
        done_(std::move(done)) {}

  void Run() {
    if (Status s = Prepare(); !s.ok()) return Finish(s);
    if (Exists(paths().disk())) return StartQemu();
    CreateOverlay();
  }

 private:
  const MachinePaths& paths() const { return spec_.paths; }

  Status Prepare() {
    if (Status s = ValidateSpec(spec_); !s.ok()) return s;
    if (Status s = CheckReadable("kernel", spec_.kernel); !s.ok()) return s;
    if (Status s = CheckReadable("initrd", spec_.initrd); !s.ok()) return s;
    if (Status s = CheckReadable("disk", spec_.base_disk); !s.ok()) return s;
    if (Status s = MakeRunDir(paths().run_dir); !s.ok()) return s;
    pid_t running = ReadPidfile(paths().pidfile());
    if (running > 0 && CheckIsQemuOf(running, paths()).ok()) {
      return Status(
          codes::kAlreadyExists,
          "a QEMU for " + paths().run_dir + " already runs as pid " + std::to_string(running),
          "attach to it, or stop it first");
    }
    return Status::Ok();
  }

  // Runs argv with its output appended to qemu.log; `exited` gets the wait
  // status, or -1 if it was not our child to reap.
  void RunHelper(const std::vector<std::string>& argv, std::function<void(int)> exited) {
    log_offset_ = FileSize(paths().qemu_log());
    Result<pid_t> pid = SpawnProcess(argv, paths().qemu_log());
    if (!pid.ok()) return Finish(pid.status());
    Result<std::shared_ptr<ProcessWatch>> watch = ProcessWatch::Open(io_, *pid);
    if (!watch.ok()) {
      // Cannot happen for an unreaped child; reap it anyway.
      waitpid(*pid, nullptr, 0);
      return Finish(watch.status());
    }
    helper_ = *watch;
    helper_name_ = argv[0];
    timer_.expires_after(QemuDriver::kStartTimeout);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->OnHelperTimeout();
    });
    helper_->OnExit([self = shared_from_this(), exited = std::move(exited)]() {
      self->timer_.cancel();
      std::optional<int> status = self->helper_->Reap();
      self->helper_.reset();
      if (!self->finished_) exited(status.value_or(-1));
    });
  }

  void OnHelperTimeout() {
    if (!helper_) return;
    helper_->Signal(SIGKILL);  // its exit callback reaps it
    KillLeftover(paths());
    Finish(HypervisorError(helper_name_ + " did not finish within " +
                               std::to_string(QemuDriver::kStartTimeout.count()) + " s",
                           "see " + paths().qemu_log()));
  }

  void CreateOverlay() {
    RunHelper(BuildOverlayArgv(qemu_img_, spec_), [this](int status) {
      if (status == 0) return StartQemu();
      unlink(paths().disk().c_str());  // a partial overlay would be reused
      Finish(FailureWithLog("cannot create the disk overlay (" + DescribeWaitStatus(status) + ")"));
    });
  }

  void StartQemu() {
    unlink(paths().pidfile().c_str());  // so a stale pid is never read back
    RunHelper(BuildQemuArgv(qemu_binary_, spec_), [this](int status) {
      // -daemonize: this parent exits 0 once the daemon is ready; the daemon
      // has written the pidfile by then. -1: reaped elsewhere, trust the pidfile.
      if (status != 0 && status != -1) {
        KillLeftover(paths());
        return Finish(FailureWithLog("QEMU failed to start (" + DescribeWaitStatus(status) + ")"));
      }
      OnQemuDaemonized();
    });
  }

  void OnQemuDaemonized() {
    pid_t pid = ReadPidfile(paths().pidfile());
    if (pid <= 0) return Finish(FailureWithLog("QEMU started but wrote no pidfile"));
    if (Status s = SecureFiles(); !s.ok()) {
      KillLeftover(paths());
      return Finish(s);
    }
    QemuMachine::Connect(
        io_, paths(), pid, [self = shared_from_this(), pid](Result<std::shared_ptr<Machine>> m) {
          if (!m.ok()) {
            KillLeftover(self->paths());
            return self->Finish(self->FailureWithLog("QEMU (pid " + std::to_string(pid) +
                                                     ") started but " + m.status().message()));
          }
          self->Finish(std::move(*m));
        });
  }

  // run_dir is 0700 already; the sockets and the console log are made 0600
  // as well, whatever kumod's umask was.
  Status SecureFiles() {
    for (const std::string& path : {paths().qmp_socket(), paths().agent_socket(),
                                    paths().console_socket(), paths().console_log()}) {
      if (chmod(path.c_str(), 0600) != 0) {
        return HypervisorError("cannot chmod " + path + ": " + strerror(errno));
      }
    }
    return Status::Ok();
  }

  Status FailureWithLog(const std::string& message) {
    std::string tail = ReadTail(paths().qemu_log(), log_offset_);
    return HypervisorError(tail.empty() ? message : message + ": " + tail,
                           "see " + paths().qemu_log());
  }

  void Finish(Result<std::shared_ptr<Machine>> result) {
    if (finished_) return;
    finished_ = true;
    timer_.cancel();
    Ready done = std::move(done_);
    done(std::move(result));
  }

  asio::io_context& io_;
  MachineSpec spec_;
  std::string qemu_binary_;
  std::string qemu_img_;
  asio::steady_timer timer_;
  Ready done_;
  std::shared_ptr<ProcessWatch> helper_;
  std::string helper_name_;
  off_t log_offset_ = 0;
  bool finished_ = false;
};

// Wraps `done` so it is not called once the driver is gone.
Ready Guarded(const std::shared_ptr<bool>& alive, Ready done) {
  return [alive = std::weak_ptr<bool>(alive),
          done = std::move(done)](Result<std::shared_ptr<Machine>> result) {
    if (alive.lock()) done(std::move(result));
  };
}

}  // namespace

QemuDriver::QemuDriver(asio::io_context& io, std::string qemu_binary, std::string qemu_img)
    : io_(io),
      qemu_binary_(std::move(qemu_binary)),
      qemu_img_(std::move(qemu_img)),
      alive_(std::make_shared<bool>(true)) {}

QemuDriver::~QemuDriver() = default;

void QemuDriver::Launch(const MachineSpec& spec, MachineReady done) {
  auto op = std::make_shared<LaunchOperation>(io_, spec, qemu_binary_, qemu_img_,
                                              Guarded(alive_, std::move(done)));
  asio::post(io_, [op]() { op->Run(); });
}

void QemuDriver::Attach(const MachineSpec& spec, int64_t pid, MachineReady done) {
  Ready ready = Guarded(alive_, std::move(done));
  asio::post(io_, [io = &io_, spec, pid, ready = std::move(ready)]() {
    if (Status s = ValidatePaths(spec.paths); !s.ok()) return ready(s);
    if (pid <= 0 || pid > INT32_MAX) {
      return ready(Status(codes::kNotFound, "no process with pid " + std::to_string(pid)));
    }
    QemuMachine::Connect(*io, spec.paths, static_cast<pid_t>(pid), ready);
  });
}

std::map<std::string, std::vector<int64_t>> QemuDriver::FindRunning(
    const std::vector<MachinePaths>& machines) {
  return FindQemus(machines);
}

void QemuDriver::KillStray(const MachinePaths& paths, int64_t pid) {
  if (pid > 0 && pid <= INT32_MAX && CheckIsQemuOf(static_cast<pid_t>(pid), paths).ok()) {
    kill(static_cast<pid_t>(pid), SIGKILL);
  }
}

}  // namespace kumo::hypervisor
