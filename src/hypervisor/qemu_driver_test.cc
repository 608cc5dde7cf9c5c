// QemuDriver end to end: the project's guest image under real QEMU (TCG, as
// nested KVM hangs guests on the CI hosts; KUMO_TEST_ACCEL=kvm overrides).
// Every QEMU a test starts is killed by its pid when the test ends, pass or
// fail (QemuGuard).
#include "hypervisor/qemu_driver.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "guestlink/qga_client.h"
#include "hypervisor/qemu_argv.h"
#include "hypervisor/qemu_machine.h"
#include "hypervisor/spawn.h"
#include "hypervisor/uefi_firmware.h"
#include "support/child_process.h"
#include "support/io_loop.h"

namespace kumo::hypervisor {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using Kind = MachineEvent::Kind;
using kumo::testing::RunUntil;

const std::string kImageDir = KUMO_GUEST_IMAGE_DIR;

double MillisSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Fields of /proc/PID/stat after the command name: 3 state, 4 ppid, 5 pgrp,
// 6 session. Empty if the process is gone.
std::vector<std::string> ProcStat(pid_t pid) {
  std::string text = ReadAll("/proc/" + std::to_string(pid) + "/stat");
  std::vector<std::string> fields;
  size_t paren = text.rfind(')');
  if (paren == std::string::npos) return fields;
  std::istringstream rest(text.substr(paren + 2));
  fields = {"pid", "comm"};
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;
}

// Gone, or a zombie waiting for init to reap it.
bool ProcessGone(pid_t pid) {
  auto stat = ProcStat(pid);
  return stat.size() < 3 || stat[2] == "Z" || stat[2] == "X";
}

// Processes whose command line mentions `text`.
std::vector<pid_t> ProcessesMentioning(const std::string& text) {
  std::vector<pid_t> pids;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (ReadAll(entry.path().string() + "/cmdline").find(text) != std::string::npos) {
      pids.push_back(std::stoi(name));
    }
  }
  return pids;
}

// Kills every QEMU started for `run_dir` when the test ends, found by its
// command line (which names the run_dir), and waits until it is gone.
class QemuGuard {
 public:
  explicit QemuGuard(std::string run_dir) : run_dir_(std::move(run_dir)) {}
  ~QemuGuard() {
    std::vector<pid_t> pids = ProcessesMentioning(run_dir_ + "/qmp.sock");
    for (pid_t pid : pids) kill(pid, SIGKILL);
    auto deadline = Clock::now() + 10s;
    for (pid_t pid : pids) {
      while (!ProcessGone(pid) && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
    }
  }

 private:
  std::string run_dir_;
};

class QemuDriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(kImageDir + "/rootfs.qcow2"))
        << "build the guest image first: ninja guest-image";
  }

  MachineSpec Spec(const std::string& name) {
    json image = json::parse(ReadAll(kImageDir + "/image.json"), nullptr, false);
    MachineSpec spec;
    spec.name = name;
    spec.memory_mib = 256;
    spec.vcpus = 1;
    spec.disk_gib = 2;
    spec.kernel = kImageDir + "/" + image.value("kernel", "vmlinuz");
    spec.initrd = kImageDir + "/" + image.value("initrd", "initrd.img");
    spec.cmdline = image.value("cmdline", "console=ttyS0 root=/dev/vda rw");
    spec.base_disk = kImageDir + "/" + image.value("disk", "rootfs.qcow2");
    const char* accel = std::getenv("KUMO_TEST_ACCEL");
    spec.accel = accel ? accel : "tcg";
    spec.paths.run_dir = tmp_ / ("servers/" + name);  // servers/ does not exist yet
    return spec;
  }

  Result<std::shared_ptr<Machine>> Launch(HypervisorDriver& driver, const MachineSpec& spec,
                                          double* millis = nullptr) {
    std::optional<Result<std::shared_ptr<Machine>>> result;
    auto start = Clock::now();
    driver.Launch(spec, [&](Result<std::shared_ptr<Machine>> r) { result = std::move(r); });
    EXPECT_FALSE(result.has_value()) << "called back inside Launch";
    if (!RunUntil(
            io_, [&] { return result.has_value(); }, 90s)) {
      return Status(codes::kInternal, "Launch did not call back in 90 s");
    }
    if (millis) *millis = MillisSince(start);
    return *result;
  }

  Result<std::shared_ptr<Machine>> Attach(HypervisorDriver& driver, const MachineSpec& spec,
                                          int64_t pid) {
    std::optional<Result<std::shared_ptr<Machine>>> result;
    driver.Attach(spec, pid, [&](Result<std::shared_ptr<Machine>> r) { result = std::move(r); });
    EXPECT_FALSE(result.has_value()) << "called back inside Attach";
    if (!RunUntil(
            io_, [&] { return result.has_value(); }, 30s)) {
      return Status(codes::kInternal, "Attach did not call back in 30 s");
    }
    return *result;
  }

  Result<json> Qmp(const std::shared_ptr<Machine>& machine, const std::string& command) {
    auto qemu = std::dynamic_pointer_cast<QemuMachine>(machine);
    if (!qemu) return Status(codes::kInternal, "not a QemuMachine");
    std::optional<Result<json>> result;
    qemu->Execute(command, json(), [&](Result<json> r) { result = std::move(r); });
    if (!RunUntil(
            io_, [&] { return result.has_value(); }, 15s)) {
      return Status(codes::kInternal, "no QMP reply in 15 s");
    }
    return *result;
  }

  // One agent command on the guest's virtio-serial port (blocking), after a
  // sync that waits for the agent to come up. Without `expect_reply` (e.g.
  // guest-shutdown, which answers nothing) it returns ok once sent.
  guestlink::QgaReply AgentCall(const MachinePaths& paths, const std::string& command,
                                const json& arguments, std::chrono::seconds boot_wait,
                                bool expect_reply = true) {
    guestlink::QgaClient agent;
    std::string err;
    auto deadline = Clock::now() + boot_wait;
    guestlink::QgaReply reply;
    if (!agent.Connect(paths.agent_socket(), deadline, &err) || !agent.Sync(deadline)) {
      reply.timed_out = true;
      reply.error_desc = "agent did not answer: " + err;
      return reply;
    }
    if (!expect_reply) {
      json request = {{"execute", command}, {"arguments", arguments}};
      reply.ok = agent.SendRaw(request.dump());
      return reply;
    }
    return agent.Call(command, arguments, Clock::now() + 10s);
  }

  void RecordEvents(const std::shared_ptr<Machine>& machine) {
    machine->SetEventHandler([this](const MachineEvent& e) {
      events_.push_back(e);
      event_times_.push_back(Clock::now());
    });
  }
  void ClearEvents() {
    events_.clear();
    event_times_.clear();
  }
  std::optional<size_t> FindEvent(Kind kind) const {
    for (size_t i = 0; i < events_.size(); ++i) {
      if (events_[i].kind == kind) return i;
    }
    return std::nullopt;
  }

  static void Report(const std::string& what, double millis) {
    std::cout << "[ timing   ] " << what << ": " << static_cast<int64_t>(millis) << " ms\n";
    ::testing::Test::RecordProperty(what, std::to_string(static_cast<int64_t>(millis)));
  }

  boost::asio::io_context io_;
  kumo::testing::TempDir tmp_;
  std::vector<MachineEvent> events_;
  std::vector<Clock::time_point> event_times_;
};

int FileMode(const std::string& path, mode_t* type = nullptr) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return -1;
  if (type) *type = st.st_mode & S_IFMT;
  return st.st_mode & 07777;
}

TEST_F(QemuDriverTest, LaunchResetAttachAfterRestartAndQuit) {
  MachineSpec spec = Spec("e2e-1");
  QemuGuard guard(spec.paths.run_dir);
  const MachinePaths& paths = spec.paths;

  auto driver = std::make_unique<QemuDriver>(io_);
  double launch_ms = 0;
  auto launched = Launch(*driver, spec, &launch_ms);
  ASSERT_TRUE(launched.ok()) << launched.status().ToString() << "\n" << launched.status().hint();
  std::shared_ptr<Machine> machine = std::move(*launched);
  launched = Status(codes::kInternal, "moved out");  // `machine` is the only reference
  Report("launch to QMP ready", launch_ms);
  const pid_t pid = static_cast<pid_t>(machine->pid());
  RecordEvents(machine);

  // Detached: its own session, not our child, alive.
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(machine->alive());
  auto stat = ProcStat(pid);
  ASSERT_GE(stat.size(), 6u);
  EXPECT_NE(std::stol(stat[5]), static_cast<long>(getsid(0))) << "QEMU is in our session";
  EXPECT_NE(std::stol(stat[3]), static_cast<long>(getpid())) << "QEMU is our child";
  EXPECT_EQ(std::stol(ReadAll(paths.pidfile())), pid);

  // Files: run dir 0700, sockets and the console's FIFOs 0600.
  EXPECT_EQ(FileMode(paths.run_dir), 0700);
  for (const std::string& socket : {paths.qmp_socket(), paths.agent_socket()}) {
    mode_t type = 0;
    EXPECT_EQ(FileMode(socket, &type), 0600) << socket;
    EXPECT_EQ(type, S_IFSOCK) << socket;
  }
  for (const std::string& fifo : {paths.console_output_fifo(), paths.console_input_fifo()}) {
    mode_t type = 0;
    EXPECT_EQ(FileMode(fifo, &type), 0600) << fifo;
    EXPECT_EQ(type, S_IFIFO) << fifo;
  }
  EXPECT_TRUE(std::filesystem::exists(paths.disk()));

  auto status = Qmp(machine, "query-status");
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_EQ((*status)["status"], "running");
  EXPECT_EQ((*status)["running"], true);

  // The serial console's log fills with the boot log.
  auto boot_start = Clock::now();
  EXPECT_TRUE(RunUntil(
      io_, [&] { return ReadAll(paths.console_log()).find("Linux version") != std::string::npos; },
      60s))
      << ReadAll(paths.console_log());
  Report("QMP ready to 'Linux version' on the console", MillisSince(boot_start));

  // system_reset → kReset, not guest-initiated; the guest boots again.
  auto reset_start = Clock::now();
  std::optional<Status> reset;
  machine->SystemReset([&](Status s) { reset = s; });
  ASSERT_TRUE(RunUntil(
      io_, [&] { return reset.has_value() && FindEvent(Kind::kReset); }, 15s));
  EXPECT_TRUE(reset->ok()) << reset->ToString();
  const MachineEvent& reset_event = events_[*FindEvent(Kind::kReset)];
  EXPECT_FALSE(reset_event.guest_initiated);
  EXPECT_EQ(reset_event.detail, "host-qmp-system-reset");
  Report("system_reset to kReset", MillisSince(reset_start));
  EXPECT_TRUE(RunUntil(
      io_,
      [&] {
        std::string log = ReadAll(paths.console_log());
        size_t first = log.find("Linux version");
        return first != std::string::npos &&
               log.find("Linux version", first + 1) != std::string::npos;
      },
      60s))
      << "the guest did not boot again after the reset";

  // kumod restarts: the machine and driver go away, QEMU stays.
  machine.reset();
  driver.reset();
  RunUntil(
      io_, [] { return false; }, 100ms);
  ASSERT_FALSE(ProcessGone(pid));
  ClearEvents();

  QemuDriver restarted(io_);
  auto attach_start = Clock::now();
  auto attached = Attach(restarted, spec, pid);
  ASSERT_TRUE(attached.ok()) << attached.status().ToString();
  Report("attach to QMP ready", MillisSince(attach_start));
  machine = *attached;
  EXPECT_EQ(machine->pid(), pid);
  EXPECT_TRUE(machine->alive());
  RecordEvents(machine);
  status = Qmp(machine, "query-status");
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_EQ((*status)["status"], "running");

  // Quit → kShutdown, then kExited (last); the process is gone within 2 s.
  auto quit_start = Clock::now();
  std::optional<Status> quit;
  machine->Quit([&](Status s) { quit = s; });
  ASSERT_TRUE(RunUntil(
      io_, [&] { return quit.has_value() && FindEvent(Kind::kExited); }, 10s));
  const double quit_to_exited = std::chrono::duration<double, std::milli>(
                                    event_times_[*FindEvent(Kind::kExited)] - quit_start)
                                    .count();
  EXPECT_TRUE(quit->ok()) << quit->ToString();
  ASSERT_TRUE(FindEvent(Kind::kShutdown).has_value());
  EXPECT_LT(*FindEvent(Kind::kShutdown), *FindEvent(Kind::kExited));
  EXPECT_EQ(events_[*FindEvent(Kind::kShutdown)].detail, "host-qmp-quit");
  EXPECT_EQ(events_.back().kind, Kind::kExited);
  EXPECT_EQ(events_.back().detail, "QEMU exited after shutdown (host-qmp-quit)");
  EXPECT_FALSE(machine->alive());
  EXPECT_TRUE(RunUntil(
      io_, [&] { return ProcessGone(pid); }, 2s))
      << "QEMU still runs";
  Report("quit to kExited", quit_to_exited);
  Report("quit to process gone", MillisSince(quit_start));
  RunUntil(
      io_, [] { return false; }, 200ms);
  EXPECT_EQ(events_.back().kind, Kind::kExited) << "an event came after kExited";
}

TEST_F(QemuDriverTest, LaunchThenKill) {
  MachineSpec spec = Spec("e2e-kill");
  QemuGuard guard(spec.paths.run_dir);
  QemuDriver driver(io_);
  auto launched = Launch(driver, spec);
  ASSERT_TRUE(launched.ok()) << launched.status().ToString();
  std::shared_ptr<Machine> machine = *launched;
  RecordEvents(machine);
  const pid_t pid = static_cast<pid_t>(machine->pid());

  auto kill_start = Clock::now();
  machine->Kill();
  ASSERT_TRUE(RunUntil(
      io_, [&] { return FindEvent(Kind::kExited).has_value(); }, 10s));
  Report("kill to kExited", MillisSince(kill_start));
  EXPECT_EQ(events_.back().kind, Kind::kExited);
  EXPECT_EQ(events_.back().detail, "QEMU was killed (SIGKILL)");
  EXPECT_FALSE(FindEvent(Kind::kShutdown).has_value());
  EXPECT_FALSE(machine->alive());
  EXPECT_TRUE(RunUntil(
      io_, [&] { return ProcessGone(pid); }, 2s));

  // Quit on a machine that is gone: ok (it is gone), from the loop.
  std::optional<Status> quit;
  machine->Quit([&](Status s) { quit = s; });
  EXPECT_FALSE(quit.has_value());
  ASSERT_TRUE(RunUntil(
      io_, [&] { return quit.has_value(); }, 5s));
  EXPECT_TRUE(quit->ok());

  // The run dir is reused by the next launch (the overlay is kept).
  ClearEvents();
  auto again = Launch(driver, spec);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_NE((*again)->pid(), pid);
  // A second launch while it runs is refused.
  auto twice = Launch(driver, spec);
  EXPECT_EQ(twice.status().code(), codes::kAlreadyExists) << twice.status().ToString();
  (*again)->Kill();
  EXPECT_TRUE(RunUntil(
      io_, [&] { return ProcessGone(static_cast<pid_t>((*again)->pid())); }, 5s));
}

// qemu-img makes the disk under another name: a kumod killed meanwhile
// leaves that, never a half-made disk.qcow2 that the next start would boot.
TEST_F(QemuDriverTest, ADiskLeftHalfMadeIsMadeAgain) {
  MachineSpec spec = Spec("e2e-part");
  QemuGuard guard(spec.paths.run_dir);
  std::filesystem::create_directories(spec.paths.run_dir);
  std::filesystem::permissions(spec.paths.run_dir, std::filesystem::perms::owner_all);
  std::ofstream(spec.paths.disk_in_making()) << "QFI\xfb cut short";
  QemuDriver driver(io_);
  auto launched = Launch(driver, spec);
  ASSERT_TRUE(launched.ok()) << launched.status().ToString();
  EXPECT_TRUE(std::filesystem::exists(spec.paths.disk()));
  EXPECT_FALSE(std::filesystem::exists(spec.paths.disk_in_making()));
  const auto pid = static_cast<pid_t>((*launched)->pid());
  (*launched)->Kill();
  EXPECT_TRUE(RunUntil(
      io_, [&] { return ProcessGone(pid); }, 5s));
}

TEST_F(QemuDriverTest, GuestRebootAndPowerOffAreGuestInitiated) {
  MachineSpec spec = Spec("e2e-guest");
  QemuGuard guard(spec.paths.run_dir);
  QemuDriver driver(io_);
  auto launched = Launch(driver, spec);
  ASSERT_TRUE(launched.ok()) << launched.status().ToString();
  std::shared_ptr<Machine> machine = *launched;
  RecordEvents(machine);

  auto boot_start = Clock::now();
  auto ping = AgentCall(spec.paths, "guest-ping", json(), 90s);
  ASSERT_TRUE(ping.ok) << ping.error_desc << "\n" << ReadAll(spec.paths.console_log());
  Report("launch to agent answering", MillisSince(boot_start));

  // The guest reboots itself: kReset, guest-initiated; the machine stays.
  ASSERT_TRUE(AgentCall(spec.paths, "guest-shutdown", {{"mode", "reboot"}}, 10s, false).ok);
  ASSERT_TRUE(RunUntil(
      io_, [&] { return FindEvent(Kind::kReset).has_value(); }, 60s));
  EXPECT_TRUE(events_[*FindEvent(Kind::kReset)].guest_initiated);
  EXPECT_EQ(events_[*FindEvent(Kind::kReset)].detail, "guest-reset");
  EXPECT_TRUE(machine->alive());
  ping = AgentCall(spec.paths, "guest-ping", json(), 90s);
  ASSERT_TRUE(ping.ok) << "agent after the reboot: " << ping.error_desc;
  auto poweroff_start = Clock::now();

  // The guest powers off: kShutdown (guest-initiated), then kExited.
  ASSERT_TRUE(AgentCall(spec.paths, "guest-shutdown", {{"mode", "powerdown"}}, 10s, false).ok);
  ASSERT_TRUE(RunUntil(
      io_, [&] { return FindEvent(Kind::kExited).has_value(); }, 60s));
  ASSERT_TRUE(FindEvent(Kind::kShutdown).has_value());
  const MachineEvent& shutdown = events_[*FindEvent(Kind::kShutdown)];
  EXPECT_TRUE(shutdown.guest_initiated);
  EXPECT_EQ(shutdown.detail, "guest-shutdown");
  EXPECT_EQ(events_.back().kind, Kind::kExited);
  EXPECT_EQ(events_.back().detail, "QEMU exited after shutdown (guest-shutdown)");
  EXPECT_FALSE(machine->alive());
  Report("guest poweroff request to kExited", MillisSince(poweroff_start));
}

TEST_F(QemuDriverTest, AttachToSomethingElseIsNotFound) {
  MachineSpec spec = Spec("e2e-attach");
  QemuDriver driver(io_);
  // Our own pid: a live process, but not this run_dir's QEMU.
  auto self = Attach(driver, spec, getpid());
  EXPECT_EQ(self.status().code(), codes::kNotFound) << self.status().ToString();
  // A pid that no longer runs.
  pid_t gone = fork();
  if (gone == 0) _exit(0);
  ASSERT_EQ(waitpid(gone, nullptr, 0), gone);
  auto dead = Attach(driver, spec, gone);
  EXPECT_EQ(dead.status().code(), codes::kNotFound) << dead.status().ToString();
  EXPECT_EQ(Attach(driver, spec, -1).status().code(), codes::kNotFound);
}

TEST_F(QemuDriverTest, AttachRefusesAProcessOfAnotherUserThatPassesForQemu) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to run a process as another user";
  MachineSpec spec = Spec("e2e-uid");
  ASSERT_TRUE(std::filesystem::create_directories(spec.paths.run_dir));
  // A process of another user whose command line passes for this run_dir's
  // QEMU (as a stale pidfile in a run_dir that user controls could name).
  testing::TempDir dir;
  ASSERT_EQ(chown(dir.path().c_str(), 65534, 65534), 0);
  ASSERT_EQ(mkfifo((dir / "wait").c_str(), 0600), 0);
  ASSERT_EQ(chown((dir / "wait").c_str(), 65534, 65534), 0);
  SpawnOptions options;
  options.run_as = RunAs{65534, 65534};
  options.detach = true;
  // The shell blocks opening the fifo (no child process), its command line
  // holding the QMP chardev of spec's run_dir.
  Result<pid_t> impostor =
      SpawnProcess({"/bin/sh", "-c", "read x < " + (dir / "wait"),
                    "socket,id=qmp,path=" + spec.paths.qmp_socket() + ",server=on,wait=off"},
                   dir / "out", options);
  ASSERT_TRUE(impostor.ok()) << impostor.status().ToString();
  std::string cmdline = ReadAll("/proc/" + std::to_string(*impostor) + "/cmdline");
  EXPECT_TRUE(IsQemuCmdlineOf(cmdline, spec.paths)) << cmdline;

  QemuDriver driver(io_, "qemu-system-x86_64", "qemu-img", RunAs{4242, 4242});
  auto other_user = Attach(driver, spec, *impostor);
  EXPECT_EQ(other_user.status().code(), codes::kNotFound) << other_user.status().ToString();
  EXPECT_NE(other_user.status().message().find("runs as uid 65534"), std::string::npos)
      << other_user.status().ToString();
  // Had it been the QEMU user's, it would have been taken for QEMU (and
  // failed only at QMP): the user is what refused it.
  QemuDriver as_that_user(io_, "qemu-system-x86_64", "qemu-img", RunAs{65534, 65534});
  auto same_user = Attach(as_that_user, spec, *impostor);
  EXPECT_EQ(same_user.status().code(), codes::kHypervisorError) << same_user.status().ToString();
  kill(*impostor, SIGKILL);
}

TEST_F(QemuDriverTest, BadSpecStartsAndCreatesNothing) {
  QemuDriver driver(io_);
  struct Case {
    const char* what;
    std::function<void(MachineSpec&)> change;
  };
  const std::vector<Case> cases = {
      {"comma in the run dir", [&](MachineSpec& s) { s.paths.run_dir = tmp_ / "a,b"; }},
      {"zero memory", [](MachineSpec& s) { s.memory_mib = 0; }},
      {"comma in the kernel path", [](MachineSpec& s) { s.kernel += ",if=none"; }},
      {"bad accel", [](MachineSpec& s) { s.accel = "tcg,thread=single"; }},
  };
  for (const Case& c : cases) {
    MachineSpec spec = Spec("e2e-bad");
    c.change(spec);
    auto result = Launch(driver, spec);
    EXPECT_EQ(result.status().code(), codes::kInvalidArgument) << c.what;
    EXPECT_FALSE(std::filesystem::exists(spec.paths.run_dir)) << c.what;
    EXPECT_TRUE(ProcessesMentioning(tmp_.path().string()).empty()) << c.what;
  }
  EXPECT_TRUE(std::filesystem::is_empty(tmp_.path()));
}

// OVMF: its code read-only, the machine's own variable store writable (as
// QEMU's block layer reports them), made from the template before QEMU
// starts. Without the code, nothing is made.
TEST_F(QemuDriverTest, AUefiMachineGetsOvmfAndItsOwnVariableStore) {
  MachineSpec spec = Spec("e2e-uefi");
  QemuGuard guard(spec.paths.run_dir);
  spec.uefi_code = tmp_ / "no/OVMF_CODE_4M.fd";
  spec.uefi_vars_template = kDebianOvmfVars;
  QemuDriver driver(io_);
  auto missing = Launch(driver, spec);
  EXPECT_EQ(missing.status().code(), codes::kHypervisorError) << missing.status().ToString();
  EXPECT_NE(missing.status().message().find(spec.uefi_code), std::string::npos);
  EXPECT_NE(missing.status().hint().find("apt-get install ovmf"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(spec.paths.run_dir));

  spec.uefi_code = kDebianOvmfCode;
  auto machine = Launch(driver, spec);
  ASSERT_TRUE(machine.ok()) << machine.status().ToString();
  EXPECT_EQ(ReadAll(spec.paths.uefi_vars()), ReadAll(kDebianOvmfVars));
  auto block = Qmp(*machine, "query-block");
  ASSERT_TRUE(block.ok()) << block.status().ToString();
  std::map<std::string, json> devices;
  for (const auto& d : *block) devices[d.value("device", "")] = d;
  ASSERT_TRUE(devices.count("pflash0") && devices.count("pflash1")) << block->dump();
  EXPECT_EQ(devices["pflash0"]["inserted"]["ro"], true);
  EXPECT_EQ(devices["pflash1"]["inserted"]["ro"], false);
  EXPECT_EQ(devices["pflash1"]["inserted"]["file"], spec.paths.uefi_vars());
  (*machine)->Kill();
}

TEST_F(QemuDriverTest, QemuFailureCarriesQemusOwnMessage) {
  MachineSpec spec = Spec("e2e-fail");
  QemuGuard guard(spec.paths.run_dir);
  std::string bogus = tmp_ / "not-a-kernel";
  kumo::testing::WriteFile(bogus, "this is not a kernel\n");
  spec.kernel = bogus;
  QemuDriver driver(io_);
  auto result = Launch(driver, spec);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), codes::kHypervisorError);
  // The message ends with what QEMU itself said (the tail of qemu.log).
  std::string qemu_said = kumo::testing::ReadFile(spec.paths.qemu_log());
  while (!qemu_said.empty() && qemu_said.back() == '\n') qemu_said.pop_back();
  qemu_said = qemu_said.substr(qemu_said.rfind('\n') + 1);
  ASSERT_FALSE(qemu_said.empty());
  EXPECT_NE(result.status().message().find(qemu_said), std::string::npos)
      << result.status().message();
  EXPECT_NE(result.status().hint().find("qemu.log"), std::string::npos);
  std::cout << "[ message  ] " << result.status().message() << "\n";
  EXPECT_TRUE(ProcessesMentioning(spec.paths.run_dir).empty());

  // A missing QEMU binary is reported as such.
  QemuDriver missing(io_, "/nonexistent/qemu-system-x86_64");
  spec = Spec("e2e-fail");
  auto no_binary = Launch(missing, spec);
  EXPECT_EQ(no_binary.status().code(), codes::kHypervisorError);
  EXPECT_NE(no_binary.status().message().find("No such file"), std::string::npos)
      << no_binary.status().message();
}

}  // namespace
}  // namespace kumo::hypervisor
