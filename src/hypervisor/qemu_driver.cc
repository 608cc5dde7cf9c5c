#include "hypervisor/qemu_driver.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "hypervisor/launch_files.h"
#include "hypervisor/process_watch.h"
#include "hypervisor/qemu_argv.h"
#include "hypervisor/qemu_machine.h"
#include "hypervisor/qemu_survey.h"
#include "hypervisor/spawn.h"
#include "hypervisor/uefi_firmware.h"

namespace kumo::hypervisor {

namespace asio = boost::asio;
using Ready = HypervisorDriver::MachineReady;

namespace {

Status HypervisorError(const std::string& message, const std::string& hint = "") {
  return Status(codes::kHypervisorError, message, hint);
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
  static constexpr std::chrono::milliseconds kConnectRetry{50};

  LaunchOperation(asio::io_context& io, MachineSpec spec, std::string qemu_binary,
                  std::string qemu_img, std::optional<RunAs> run_as, Ready done)
      : io_(io),
        spec_(std::move(spec)),
        qemu_binary_(std::move(qemu_binary)),
        qemu_img_(std::move(qemu_img)),
        run_as_(run_as),
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
    if (Status s = CheckUefiFirmware(spec_); !s.ok()) return s;
    if (Status s = PrepareRunDir(paths().run_dir, run_as_); !s.ok()) return s;
    pid_t running = ReadPidfile(paths().pidfile());
    if (running > 0 && CheckIsQemuOf(running, paths()).ok()) {
      return Status(
          codes::kAlreadyExists,
          "a QEMU for " + paths().run_dir + " already runs as pid " + std::to_string(running),
          "attach to it, or stop it first");
    }
    return PrepareUefiVars(spec_, run_as_);
  }

  // Runs argv with its output appended to qemu.log; `exited` gets the wait
  // status, or -1 if it was not our child to reap.
  void RunHelper(const std::vector<std::string>& argv, SpawnOptions options,
                 std::function<void(int)> exited) {
    log_offset_ = FileSize(paths().qemu_log());
    options.run_as = run_as_;
    Result<pid_t> pid = SpawnProcess(argv, paths().qemu_log(), options);
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
    const std::string part = paths().disk_in_making();
    unlink(part.c_str());  // left by a kumod that was killed while making it
    RunHelper(BuildOverlayArgv(qemu_img_, spec_, part), {}, [this, part](int status) {
      if (status != 0) {
        unlink(part.c_str());
        return Finish(
            FailureWithLog("cannot create the disk overlay (" + DescribeWaitStatus(status) + ")"));
      }
      if (rename(part.c_str(), paths().disk().c_str()) != 0) {
        return Finish(HypervisorError("cannot rename " + part + ": " + strerror(errno)));
      }
      StartQemu();
    });
  }

  void StartQemu() {
    unlink(paths().pidfile().c_str());  // so a stale pid is never read back
    if (Status s = MakeConsoleFifos(paths(), run_as_); !s.ok()) return Finish(s);
    Result<ImageFiles> files = ImageFiles::Open(spec_, run_as_);
    if (!files.ok()) return Finish(files.status());
    // Detached: QEMU is never kumod's child, and outlives it.
    SpawnOptions options;
    options.inherit_fds = files->fds();
    options.detach = true;
    RunHelper(BuildQemuArgv(qemu_binary_, spec_, files->inherited()), options,
              [this](int) { Finish(FailureWithLog("QEMU exited before it was ready")); });
    if (!helper_) return;  // it could not be started
    qemu_pid_ = helper_->pid();
    ConnectQmp();
  }

  // QEMU runs in the foreground: its QMP socket appears once it has set up
  // its devices. Until then (or the start timeout), try again.
  void ConnectQmp() {
    QemuMachine::Connect(io_, paths(), qemu_pid_,
                         [self = shared_from_this()](Result<std::shared_ptr<Machine>> m) {
                           if (self->finished_) return;
                           if (m.ok()) return self->OnConnected(std::move(*m));
                           self->retry_timer_.expires_after(kConnectRetry);
                           self->retry_timer_.async_wait([self](boost::system::error_code ec) {
                             if (!ec && !self->finished_ && self->helper_) self->ConnectQmp();
                           });
                         });
  }

  void OnConnected(std::shared_ptr<Machine> machine) {
    // The machine watches and reaps QEMU from now on.
    helper_.reset();
    if (Status s = SecureFiles(); !s.ok()) {
      machine->Kill();
      return Finish(s);
    }
    Finish(std::move(machine));
  }

  // run_dir is 0700 already, and QEMU runs with umask 077; the sockets and
  // the console log are made 0600 explicitly, without following a symlink
  // (the run_dir may belong to QEMU's user). The console's FIFOs are made
  // 0600 by MakeConsoleFifos.
  Status SecureFiles() {
    for (const std::string& path :
         {paths().qmp_socket(), paths().agent_socket(), paths().console_log()}) {
      if (fchmodat(AT_FDCWD, path.c_str(), 0600, AT_SYMLINK_NOFOLLOW) != 0) {
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
    retry_timer_.cancel();
    Ready done = std::move(done_);
    done(std::move(result));
  }

  asio::io_context& io_;
  MachineSpec spec_;
  std::string qemu_binary_;
  std::string qemu_img_;
  std::optional<RunAs> run_as_;
  asio::steady_timer timer_;
  asio::steady_timer retry_timer_{io_};
  pid_t qemu_pid_ = -1;
  Ready done_;
  std::shared_ptr<ProcessWatch> helper_;
  std::string helper_name_;
  off_t log_offset_ = 0;
  bool finished_ = false;
};

// Ok if `pid` runs as a user a QEMU of ours runs as: `run_as`, kumod's own,
// or root (started by a kumod before QEMU ran unprivileged). A pidfile in a
// run_dir QEMU's user controls cannot then name another user's process.
Status CheckQemuUser(pid_t pid, const std::optional<RunAs>& run_as) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("Uid:")) continue;
    long uid = std::strtol(line.c_str() + 4, nullptr, 10);
    if (uid == 0 || uid == static_cast<long>(geteuid()) ||
        (run_as && uid == static_cast<long>(run_as->uid))) {
      return Status::Ok();
    }
    return Status(codes::kNotFound, "pid " + std::to_string(pid) + " runs as uid " +
                                        std::to_string(uid) + ", not as a QEMU of kumod's");
  }
  return Status(codes::kNotFound, "no process with pid " + std::to_string(pid));
}

// Wraps `done` so it is not called once the driver is gone.
Ready Guarded(const std::shared_ptr<bool>& alive, Ready done) {
  return [alive = std::weak_ptr<bool>(alive),
          done = std::move(done)](Result<std::shared_ptr<Machine>> result) {
    if (alive.lock()) done(std::move(result));
  };
}

}  // namespace

QemuDriver::QemuDriver(asio::io_context& io, std::string qemu_binary, std::string qemu_img,
                       std::optional<RunAs> run_as)
    : io_(io),
      qemu_binary_(std::move(qemu_binary)),
      qemu_img_(std::move(qemu_img)),
      run_as_(run_as),
      alive_(std::make_shared<bool>(true)) {}

QemuDriver::~QemuDriver() = default;

void QemuDriver::Launch(const MachineSpec& spec, MachineReady done) {
  auto op = std::make_shared<LaunchOperation>(io_, spec, qemu_binary_, qemu_img_, run_as_,
                                              Guarded(alive_, std::move(done)));
  asio::post(io_, [op]() { op->Run(); });
}

void QemuDriver::Attach(const MachineSpec& spec, int64_t pid, MachineReady done) {
  Ready ready = Guarded(alive_, std::move(done));
  asio::post(io_, [io = &io_, spec, pid, run_as = run_as_, ready = std::move(ready)]() {
    if (Status s = ValidatePaths(spec.paths); !s.ok()) return ready(s);
    if (pid <= 0 || pid > INT32_MAX) {
      return ready(Status(codes::kNotFound, "no process with pid " + std::to_string(pid)));
    }
    if (Status s = CheckQemuUser(static_cast<pid_t>(pid), run_as); !s.ok()) return ready(s);
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
