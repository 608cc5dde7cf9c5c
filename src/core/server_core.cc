#include "core/server_core.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "common/base64.h"
#include "core/server_runtime.h"

namespace kumo::core {

namespace asio = boost::asio;
using hypervisor::Machine;
using hypervisor::MachineEvent;
using store::EventRecord;
using store::ServerRecord;

namespace {

std::string ClockTime(int64_t ms) {
  time_t t = static_cast<time_t>(ms / 1000);
  tm tm_utc{};
  gmtime_r(&t, &tm_utc);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm_utc);
  return buf;
}

// Whether 127.0.0.1:port can be bound now (QEMU's forward would fail if not).
bool PortIsFree(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool free = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return free;
}

Facts FactsOf(const ServerRecord& r, int64_t now_ms) {
  Facts f;
  f.power = ParsePower(r.power).value_or(Power::kOff);
  f.agent = ParseAgentState(r.agent).value_or(AgentState::kUnknown);
  f.task = ParseTask(r.task).value_or(Task::kNone);
  f.task_overdue = f.task != Task::kNone && r.task_deadline_ms > 0 && now_ms > r.task_deadline_ms;
  return f;
}

void SetTask(ServerRecord& r, Task task, Milliseconds timeout, bool force = false) {
  r.task = std::string(ToString(task));
  r.task_force = force;
  r.task_started_ms = ServerCore::NowMs();
  r.task_deadline_ms = task == Task::kNone ? 0 : r.task_started_ms + timeout.count();
  if (task == Task::kNone) r.task_started_ms = 0;
}

void EndTask(ServerRecord& r) { SetTask(r, Task::kNone, Milliseconds(0)); }

Status Busy(const ServerRecord& r) {
  return Status(
      codes::kServerBusy,
      "server " + r.name + " is busy: " + r.task + " since " + ClockTime(r.task_started_ms),
      "wait for it to finish (kumo wait " + r.name + "), or force stop it (kumo stop --force " +
          r.name + ")");
}

bool TailContains(const std::string& path, const std::string& needle, size_t tail_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  std::streamoff start = size > static_cast<std::streamoff>(tail_bytes)
                             ? size - static_cast<std::streamoff>(tail_bytes)
                             : 0;
  in.seekg(start);
  std::string tail(static_cast<size_t>(size - start), '\0');
  in.read(tail.data(), static_cast<std::streamsize>(tail.size()));
  return tail.find(needle) != std::string::npos;
}

}  // namespace

int64_t ServerCore::NowMs() {
  return std::chrono::duration_cast<Milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

ServerCore::ServerCore(asio::io_context& io, store::Store& store,
                       hypervisor::HypervisorDriver& driver, CoreConfig config)
    : io_(io), store_(store), driver_(driver), config_(std::move(config)), heartbeat_timer_(io) {}

ServerCore::~ServerCore() {
  *alive_ = false;
  for (auto& [name, rt] : runtime_) {
    if (rt->agent) rt->agent->Close();
    if (rt->machine) rt->machine->SetEventHandler(nullptr);
  }
}

Result<ServerRecord> ServerCore::Load(const std::string& name) const {
  auto r = store_.GetServer(name);
  if (!r) {
    return Status(codes::kNotFound, "no server named '" + name + "'", "list servers: kumo list");
  }
  return *r;
}

std::shared_ptr<guestlink::AgentLink> ServerCore::AgentOf(const std::string& name) const {
  auto it = runtime_.find(name);
  return it == runtime_.end() ? nullptr : it->second->agent;
}

Result<ServerRecord> ServerCore::Get(const std::string& name) const { return Load(name); }
std::vector<ServerRecord> ServerCore::List() const { return store_.ListServers(); }

Result<std::vector<EventRecord>> ServerCore::Events(const std::string& name, int64_t after_id,
                                                    int limit) const {
  if (auto r = Load(name); !r.ok()) return r.status();
  return store_.Events(name, after_id, limit);
}

Status ServerCore::RegisterImage(const store::ImageRecord& image) { return store_.PutImage(image); }
std::vector<store::ImageRecord> ServerCore::Images() const { return store_.ListImages(); }

Result<ServerRecord> ServerCore::Transition(const std::string& name, const std::string& kind,
                                            const std::string& message, const Change& change) {
  auto loaded = Load(name);
  if (!loaded.ok()) return loaded.status();
  ServerRecord r = *loaded;
  const std::string old_status = r.status;
  change(r);
  int64_t now = NowMs();
  ServerStatus status = DeriveStatus(FactsOf(r, now));
  r.status = std::string(ToString(status));
  if (!message.empty()) r.status_reason = message;
  r.updated_ms = now;
  std::optional<EventRecord> event;
  if (!message.empty() || r.status != old_status) {
    event = EventRecord{0, name, now, kind, r.status, message.empty() ? r.status : message};
  }
  if (Status s = store_.SaveServer(r, event); !s.ok()) return s;
  return r;
}

void ServerCore::Note(const std::string& name, const std::string& kind,
                      const std::string& message) {
  auto r = Load(name);
  if (!r.ok()) return;
  store_.SaveServer(*r, EventRecord{0, name, NowMs(), kind, r->status, message});
}

Status ServerCore::CheckIdle(const ServerRecord& r) const {
  if (r.task != "none") return Busy(r);
  return Status::Ok();
}

hypervisor::MachineSpec ServerCore::MachineSpecOf(const ServerRecord& r) const {
  hypervisor::MachineSpec spec;
  spec.name = r.name;
  spec.vcpus = r.vcpus;
  spec.memory_mib = r.memory_mib;
  spec.disk_gib = r.disk_gib;
  if (auto image = store_.GetImage(r.image)) {
    spec.kernel = image->kernel;
    spec.initrd = image->initrd;
    spec.cmdline = image->cmdline;
    if (r.boot_mode == "rescue") spec.cmdline += " kumo.rescue";
    spec.base_disk = image->disk;
  }
  std::error_code ec;
  if (!r.run_dir.empty() && std::filesystem::exists(r.run_dir + "/seed.iso", ec)) {
    spec.seed_image = r.run_dir + "/seed.iso";
  }
  spec.accel = config_.accel;
  spec.ssh_host_port = r.ssh_port;
  spec.paths.run_dir = r.run_dir;
  return spec;
}

// --- operations ------------------------------------------------------------

Result<ServerRecord> ServerCore::Create(const ServerSpec& spec) {
  if (Status s = ValidateSpec(spec); !s.ok()) return s;
  if (!store_.GetImage(spec.image)) {
    return Status(codes::kNotFound, "no image named '" + spec.image + "'",
                  "list images: kumo images");
  }
  if (store_.GetServer(spec.name)) {
    return Status(codes::kAlreadyExists, "a server named '" + spec.name + "' already exists",
                  "choose another name, or delete the old server first");
  }
  ServerRecord r;
  r.name = spec.name;
  r.image = spec.image;
  r.vcpus = spec.vcpus;
  r.memory_mib = spec.memory_mib;
  r.disk_gib = spec.disk_gib;
  r.ssh_key = spec.ssh_key;
  r.user_data = spec.user_data;
  r.run_dir = config_.state_dir + "/servers/" + spec.name;
  if (config_.first_ssh_port > 0) {
    // The lowest port from the base that no other server holds.
    std::set<int> taken;
    for (const auto& other : store_.ListServers()) taken.insert(other.ssh_port);
    int port = config_.first_ssh_port;
    while ((taken.count(port) || !PortIsFree(port)) && port < 65535) ++port;
    r.ssh_port = port;
  }
  SetTask(r, Task::kCreating, config_.boot_timeout);
  r.created_ms = r.updated_ms = NowMs();
  r.status = std::string(ToString(DeriveStatus(FactsOf(r, r.created_ms))));
  r.status_reason = "creating";
  EventRecord event{0,
                    r.name,
                    r.created_ms,
                    "task",
                    r.status,
                    "created (" + std::to_string(r.vcpus) + " vCPU, " +
                        std::to_string(r.memory_mib) + " MiB, " + std::to_string(r.disk_gib) +
                        " GiB, image " + r.image + ")"};
  if (Status s = MakeSeed(r); !s.ok()) return s;
  if (Status s = store_.CreateServer(r, event); !s.ok()) {
    std::error_code ec;
    std::filesystem::remove_all(r.run_dir, ec);
    return s;
  }
  NoteUserDataWarnings(r.name, r.user_data);
  Launch(r.name);
  return r;
}

Result<ServerRecord> ServerCore::Start(const std::string& name) {
  auto r = Load(name);
  if (!r.ok()) return r;
  if (Status s = CheckIdle(*r); !s.ok()) return s;
  auto& rt = runtime_[name];
  if (rt && rt->machine && rt->machine->alive()) {
    if (r->power == "crashed") {
      return Status(codes::kInvalidState,
                    "server " + name + " has crashed and its QEMU is still there for inspection",
                    "force stop it first: kumo stop --force " + name);
    }
    return Status(codes::kInvalidState, "server " + name + " is already running",
                  "to restart it: kumo reboot " + name);
  }
  auto started = Transition(name, "task", "starting", [&](ServerRecord& s) {
    SetTask(s, Task::kStarting, config_.boot_timeout);
    s.agent = "unknown";
    s.boot_mode = "normal";
  });
  if (started.ok()) Launch(name);
  return started;
}

Result<ServerRecord> ServerCore::Stop(const std::string& name, bool force) {
  auto r = Load(name);
  if (!r.ok()) return r;
  auto& rt = runtime_[name];
  if (!rt) rt = std::make_unique<Runtime>();
  if (force) {
    // The way out that always works: allowed while another task hangs.
    if (r->task == "deleting" || rt->force_stopping) return Busy(*r);
    auto stopping = Transition(name, "task", "force stop requested", [&](ServerRecord& s) {
      SetTask(s, Task::kStopping, config_.force_kill_after + Milliseconds(3000), true);
    });
    if (stopping.ok()) ForceStop(name);
    return stopping;
  }
  if (Status s = CheckIdle(*r); !s.ok()) return s;
  if (r->power == "off") {
    return Status(codes::kInvalidState, "server " + name + " is already stopped", "");
  }
  if (r->agent != "ok" || !rt->agent) {
    std::string since = r->agent_last_seen_ms
                            ? " (last answer " + ClockTime(r->agent_last_seen_ms) + ")"
                            : " (it has not answered since the server started)";
    return Status(codes::kGuestAgentNotResponding,
                  "the guest agent of " + name + " is not responding" + since +
                      ", so the guest OS cannot be asked to shut down",
                  "force stop it (kumo stop --force " + name +
                      ", like pulling the power cord), or log in on the console (kumo console " +
                      name + ") to see what the guest is doing");
  }
  auto stopping = Transition(name, "task", "graceful stop requested", [&](ServerRecord& s) {
    SetTask(s, Task::kStopping, config_.stop_timeout);
  });
  if (!stopping.ok()) return stopping;
  std::weak_ptr<bool> alive = alive_;
  rt->agent->Call("guest-shutdown", {{"mode", "powerdown"}}, false, Milliseconds(2000),
                  [this, alive, name](guestlink::QgaReply reply) {
                    if (alive.expired() || reply.ok) return;
                    Transition(name, "agent", "the guest refused to shut down: " + reply.error_desc,
                               [](ServerRecord& s) {
                                 if (s.task == "stopping") EndTask(s);
                               });
                  });
  return stopping;
}

Result<ServerRecord> ServerCore::Reboot(const std::string& name, bool force) {
  auto r = Load(name);
  if (!r.ok()) return r;
  if (Status s = CheckIdle(*r); !s.ok()) return s;
  auto& rt = runtime_[name];
  if (!rt || !rt->machine || r->power == "off") {
    return Status(codes::kInvalidState, "server " + name + " is not running",
                  "start it: kumo start " + name);
  }
  if (!force && r->agent != "ok") {
    return Status(codes::kGuestAgentNotResponding,
                  "the guest agent of " + name +
                      " is not responding, so the guest OS cannot be asked to reboot",
                  "force a reset (kumo reboot --force " + name +
                      "), or use the console (kumo console " + name + ")");
  }
  auto rebooting = Transition(name, "task", force ? "hard reset requested" : "reboot requested",
                              [&](ServerRecord& s) {
                                SetTask(s, Task::kRebooting, config_.reboot_timeout, force);
                                if (s.power == "crashed" || s.power == "paused")
                                  s.power = "running";
                              });
  if (!rebooting.ok()) return rebooting;
  rt->reset_seen = false;
  std::weak_ptr<bool> alive = alive_;
  auto failed = [this, alive, name](const std::string& why) {
    if (alive.expired()) return;
    Transition(name, "task", "reboot failed: " + why, [](ServerRecord& s) {
      if (s.task == "rebooting") EndTask(s);
    });
  };
  if (force) {
    rt->machine->SystemReset([failed](Status s) {
      if (!s.ok()) failed(s.message());
    });
  } else {
    rt->agent->Call("guest-shutdown", {{"mode", "reboot"}}, false, Milliseconds(2000),
                    [failed](guestlink::QgaReply reply) {
                      if (!reply.ok) failed(reply.error_desc);
                    });
  }
  return rebooting;
}

Result<ServerRecord> ServerCore::Rescue(const std::string& name) { return Restart(name, "rescue"); }

Result<ServerRecord> ServerCore::Unrescue(const std::string& name) {
  auto r = Load(name);
  if (!r.ok()) return r;
  if (r->boot_mode != "rescue") {
    return Status(codes::kInvalidState, "server " + name + " is not in rescue mode", "");
  }
  return Restart(name, "normal");
}

Result<ServerRecord> ServerCore::Restart(const std::string& name, const std::string& boot_mode) {
  auto r = Load(name);
  if (!r.ok()) return r;
  if (Status s = CheckIdle(*r); !s.ok()) return s;
  auto& rt = runtime_[name];
  if (!rt) rt = std::make_unique<Runtime>();
  bool running = rt->machine && rt->machine->alive();
  const bool rescue = boot_mode == "rescue";
  auto restarting = Transition(
      name, "task", rescue ? "rescue boot requested" : "normal boot requested",
      [&](ServerRecord& s) {
        SetTask(s, rescue ? Task::kRescuing : Task::kStarting, config_.boot_timeout, running);
        s.boot_mode = boot_mode;
        s.agent = "unknown";
      });
  if (!restarting.ok()) return restarting;
  if (!running) {
    Launch(name);
  } else if (r->agent == "ok" && rt->agent) {
    PowerOffThenLaunch(name);
  } else {
    rt->launch_after_stop = true;  // the guest cannot be asked: force it
    ForceStop(name);
  }
  return restarting;
}

// Asks the guest to power off, so that what was written in it (a password
// set in the rescue shell, say) reaches its disk, and boots again once QEMU
// has exited; forces it off if it has not within restart_grace.
void ServerCore::PowerOffThenLaunch(const std::string& name) {
  Runtime& rt = *runtime_[name];
  rt.launch_after_stop = true;
  std::weak_ptr<bool> alive = alive_;
  auto force = [this, alive, name](const std::string& why) {
    if (alive.expired()) return;
    auto it = runtime_.find(name);
    if (it == runtime_.end() || !it->second->machine || it->second->force_stopping) return;
    Transition(name, "task", why + "; forcing it off", [](ServerRecord&) {});
    ForceStop(name);
  };
  rt.agent->Call("guest-shutdown", {{"mode", "powerdown"}}, false, Milliseconds(2000),
                 [force](guestlink::QgaReply reply) {
                   if (!reply.ok) force("the guest refused to power off: " + reply.error_desc);
                 });
  rt.restart_timer = std::make_unique<asio::steady_timer>(io_, config_.restart_grace);
  std::weak_ptr<Machine> machine = rt.machine;
  rt.restart_timer->async_wait([force, machine, this](boost::system::error_code ec) {
    auto m = machine.lock();
    if (ec || !m || !m->alive()) return;
    force("the guest did not power off within " +
          std::to_string(config_.restart_grace.count() / 1000) + " s");
  });
}

void ServerCore::SetPassword(const std::string& name, const std::string& user,
                             const std::string& password, std::function<void(Status)> done) {
  auto r = Load(name);
  if (!r.ok()) return done(r.status());
  bool user_ok =
      !user.empty() && user.size() <= 32 && (user[0] == '_' || (user[0] >= 'a' && user[0] <= 'z'));
  for (char c : user) {
    user_ok = user_ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-');
  }
  if (!user_ok) {
    return done(Status(codes::kInvalidArgument, "user must be a Unix user name (like root)",
                       "lowercase letters, digits, '_' and '-', at most 32"));
  }
  if (password.empty() || password.size() > 1024 ||
      password.find_first_of(std::string("\r\n\0", 3)) != std::string::npos) {
    return done(Status(codes::kInvalidArgument,
                       "password must be 1-1024 bytes without line breaks or NUL bytes"));
  }
  std::shared_ptr<guestlink::AgentLink> agent = AgentOf(name);
  if (r->agent != "ok" || !agent) {
    return done(Status(codes::kGuestAgentNotResponding,
                       "the guest agent of " + name +
                           " is not responding, so the password cannot be set through it",
                       "boot into rescue mode (kumo rescue " + name +
                           "), log in on the console (kumo console " + name +
                           ") and run passwd; then kumo unrescue " + name));
  }
  guestlink::json args = {
      {"username", user}, {"password", Base64Encode(password)}, {"crypted", false}};
  std::weak_ptr<bool> alive = alive_;
  agent->Call("guest-set-user-password", args, true, Milliseconds(15000),
              [this, alive, name, user, done](guestlink::QgaReply reply) {
                if (alive.expired()) return;
                if (reply.timed_out) {
                  return done(Status(codes::kGuestAgentNotResponding,
                                     "the guest agent did not answer: " + reply.error_desc,
                                     "try again, or use rescue mode (kumo rescue " + name + ")"));
                }
                if (!reply.ok) {
                  return done(Status(codes::kInvalidArgument,
                                     "the guest could not set the password: " + reply.error_desc,
                                     "does user '" + user + "' exist in the guest?"));
                }
                Transition(name, "agent", "password set for user " + user, [](ServerRecord&) {});
                done(Status::Ok());
              });
}

Result<ServerRecord> ServerCore::Delete(const std::string& name, bool force) {
  auto r = Load(name);
  if (!r.ok()) return r;
  auto& rt = runtime_[name];
  if (!rt) rt = std::make_unique<Runtime>();
  bool running = rt->machine && rt->machine->alive();
  if (!force) {
    if (Status s = CheckIdle(*r); !s.ok()) return s;
    if (running) {
      return Status(codes::kInvalidState, "server " + name + " is running",
                    "stop it first (kumo stop " + name + "), or delete with --force");
    }
  } else if (r->task == "deleting") {
    return Busy(*r);
  }
  auto deleting = Transition(name, "task", "delete requested", [&](ServerRecord& s) {
    SetTask(s, Task::kDeleting, config_.delete_timeout);
  });
  if (!deleting.ok()) return deleting;
  if (running) {
    rt->delete_after_stop = true;
    ForceStop(name);
  } else {
    asio::post(io_, [this, alive = std::weak_ptr<bool>(alive_), name] {
      if (!alive.expired()) FinishDelete(name);
    });
  }
  return deleting;
}

// --- machines ----------------------------------------------------------------

void ServerCore::Launch(const std::string& name) {
  auto r = Load(name);
  if (!r.ok()) return;
  auto& rt = runtime_[name];
  if (!rt) rt = std::make_unique<Runtime>();
  rt->guest_powered_off = false;
  rt->force_stopping = false;
  StartConsole(name, r->run_dir);
  std::weak_ptr<bool> alive = alive_;
  driver_.Launch(MachineSpecOf(*r), [this, alive, name](Result<std::shared_ptr<Machine>> m) {
    if (alive.expired()) return;
    if (!m.ok()) {
      if (auto it = runtime_.find(name); it != runtime_.end()) StopConsole(*it->second);
      Transition(name, "qemu", "start failed: " + m.status().message(), [](ServerRecord& s) {
        EndTask(s);
        s.power = "crashed";
        s.qemu_pid = 0;
      });
      return;
    }
    Transition(name, "qemu", "QEMU started (pid " + std::to_string((*m)->pid()) + ")",
               [&](ServerRecord& s) {
                 s.power = "running";
                 s.agent = "unknown";
                 s.qemu_pid = (*m)->pid();
               });
    Adopt(name, *m);
  });
}

void ServerCore::Adopt(const std::string& name, std::shared_ptr<Machine> machine) {
  auto& rt = runtime_[name];
  if (!rt) rt = std::make_unique<Runtime>();
  rt->machine = machine;
  StartConsole(name, machine->paths().run_dir);
  rt->missed_pings = 0;
  rt->ping_in_flight = false;
  if (rt->agent) rt->agent->Close();
  rt->agent = guestlink::AgentLink::Create(io_, machine->paths().agent_socket());
  std::weak_ptr<bool> alive = alive_;
  machine->SetEventHandler([this, alive, name](const MachineEvent& e) {
    if (!alive.expired()) OnMachineEvent(name, e);
  });
}

void ServerCore::OnMachineEvent(const std::string& name, const MachineEvent& e) {
  auto& rt = runtime_[name];
  if (!rt) return;
  switch (e.kind) {
    case MachineEvent::Kind::kShutdown:
      if (e.guest_initiated) rt->guest_powered_off = true;
      return;
    case MachineEvent::Kind::kReset:
      rt->reset_seen = true;
      rt->missed_pings = 0;
      Transition(name, "qemu", e.guest_initiated ? "the guest rebooted" : "the guest was reset",
                 [](ServerRecord& s) { s.agent = "unknown"; });
      return;
    case MachineEvent::Kind::kPanicked:
      Transition(name, "qemu", "guest kernel panicked" + (e.detail.empty() ? "" : ": " + e.detail),
                 [](ServerRecord& s) {
                   s.power = "crashed";
                   if (s.task == "starting" || s.task == "creating" || s.task == "rebooting") {
                     EndTask(s);
                   }
                 });
      return;
    case MachineEvent::Kind::kStopped:
      // A panicked guest is paused too: that pause is not news, the panic is.
      if (auto r = Load(name); r.ok() && r->power == "running") {
        Transition(name, "qemu", "the guest was paused",
                   [](ServerRecord& s) { s.power = "paused"; });
      }
      return;
    case MachineEvent::Kind::kResumed:
      if (auto r = Load(name); r.ok() && r->power == "paused") {
        Transition(name, "qemu", "the guest was resumed",
                   [](ServerRecord& s) { s.power = "running"; });
      }
      return;
    case MachineEvent::Kind::kExited:
      OnMachineExited(name, e.detail);
      return;
  }
}

void ServerCore::OnMachineExited(const std::string& name, const std::string& detail) {
  auto& rt = runtime_[name];
  if (!rt) return;
  bool wanted = rt->force_stopping;
  bool powered_off = rt->guest_powered_off;
  bool delete_after = rt->delete_after_stop;
  bool launch_after = rt->launch_after_stop;
  rt->launch_after_stop = false;
  if (rt->kill_timer) rt->kill_timer->cancel();
  if (rt->restart_timer) rt->restart_timer->cancel();
  if (rt->agent) rt->agent->Close();
  rt->agent.reset();
  rt->machine.reset();
  StopConsole(*rt);
  rt->force_stopping = false;
  rt->delete_after_stop = false;
  auto r = Load(name);
  if (!r.ok()) return;
  bool stopping = r->task == "stopping";
  std::string message;
  bool clean = wanted || stopping || powered_off;
  if (wanted) {
    message = "stopped (forced)";
  } else if (powered_off || stopping) {
    message = "the guest powered off";
  } else if (r->power == "crashed") {
    message = "QEMU exited after the guest crashed";
  } else {
    message = "QEMU exited unexpectedly" + (detail.empty() ? "" : ": " + detail);
  }
  if (launch_after) {
    Transition(name, "qemu", "stopped, booting again", [&](ServerRecord& s) {
      s.qemu_pid = 0;
      s.agent = "unknown";
      s.power = "off";
      s.task_force = false;  // the forced part (the stop) is done
    });
    Launch(name);
    return;
  }
  Transition(name, "qemu", message, [&](ServerRecord& s) {
    s.qemu_pid = 0;
    s.agent = "unknown";
    if (s.task != "deleting") EndTask(s);
    s.power = clean ? "off" : "crashed";
  });
  if (delete_after) FinishDelete(name);
}

void ServerCore::ForceStop(const std::string& name) {
  auto& rt = runtime_[name];
  if (!rt) rt = std::make_unique<Runtime>();
  if (!rt->machine || !rt->machine->alive()) {
    // Nothing runs: the record only needs to say so.
    rt->force_stopping = true;
    if (rt->machine) return;  // its kExited is on the way
    asio::post(io_, [this, alive = std::weak_ptr<bool>(alive_), name] {
      if (!alive.expired()) OnMachineExited(name, "");
    });
    return;
  }
  rt->force_stopping = true;
  std::shared_ptr<Machine> machine = rt->machine;
  machine->Quit([](Status) {});  // failure is fine: the timer below kills
  rt->kill_timer = std::make_unique<asio::steady_timer>(io_, config_.force_kill_after);
  rt->kill_timer->async_wait([machine](boost::system::error_code ec) {
    if (!ec && machine->alive()) machine->Kill();
  });
}

void ServerCore::FinishDelete(const std::string& name) {
  auto r = Load(name);
  if (!r.ok()) return;
  if (auto it = runtime_.find(name); it != runtime_.end()) {
    if (it->second->agent) it->second->agent->Close();
    StopConsole(*it->second);
    runtime_.erase(it);
  }
  std::error_code ec;
  if (!r->run_dir.empty()) std::filesystem::remove_all(r->run_dir, ec);
  store_.DeleteServer(name);
}

// --- recovery and heartbeat -------------------------------------------------------

void ServerCore::Recover() {
  for (const ServerRecord& r : store_.ListServers()) {
    int64_t pid = r.qemu_pid;
    if (pid == 0 && !r.run_dir.empty()) {
      std::ifstream pidfile(r.run_dir + "/qemu.pid");
      pidfile >> pid;
    }
    const std::string name = r.name;
    if (pid == 0) {
      if (r.task == "creating" || r.task == "starting" || r.task == "rescuing") {
        Launch(name);  // the launch never got as far as QEMU
      } else if (r.task == "deleting") {
        FinishDelete(name);
      } else if (r.task != "none" || r.power != "off") {
        Transition(name, "recovery", "no QEMU was running after kumod restarted",
                   [](ServerRecord& s) {
                     EndTask(s);
                     s.power = "off";
                   });
      }
      continue;
    }
    std::weak_ptr<bool> alive = alive_;
    driver_.Attach(MachineSpecOf(r), pid, [this, alive, name](Result<std::shared_ptr<Machine>> m) {
      if (alive.expired()) return;
      auto r = Load(name);
      if (!r.ok()) return;
      if (m.ok()) {
        Adopt(name, *m);
        Runtime& rt = *runtime_[name];
        // A reset may have happened while kumod was away: the reboot ends
        // when the agent answers.
        rt.reset_seen = true;
        if (r->task == "deleting") {
          rt.delete_after_stop = true;
          ForceStop(name);
        } else if ((r->task == "starting" || r->task == "rescuing") && r->task_force) {
          rt.launch_after_stop = true;  // a restart whose stop had not finished
          ForceStop(name);
        } else if (r->task == "stopping" && r->task_force) {
          ForceStop(name);
        } else if (r->task == "stopping") {
          // kumod may have died before the guest was asked: ask again (a
          // second request to a guest already shutting down is harmless).
          rt.agent->Call("guest-shutdown", {{"mode", "powerdown"}}, false, Milliseconds(2000),
                         [](guestlink::QgaReply) {});
        }
        return;
      }
      // QEMU ended while kumod was away: the console tells a power-off apart.
      bool powered_off = TailContains(r->run_dir + "/console.log", "reboot: Power down", 4096);
      bool was_stopping = r->task == "stopping";
      bool deleting = r->task == "deleting";
      if (r->task == "creating" || r->task == "starting" || r->task == "rescuing") {
        Transition(name, "recovery", "QEMU was gone after kumod restarted; booting again",
                   [](ServerRecord& s) {
                     s.qemu_pid = 0;
                     s.power = "off";
                     s.task_force = false;
                   });
        Launch(name);
        return;
      }
      Transition(name, "recovery",
                 powered_off || was_stopping ? "the guest powered off while kumod was not running"
                                             : "QEMU exited while kumod was not running",
                 [&](ServerRecord& s) {
                   if (!deleting) EndTask(s);
                   s.qemu_pid = 0;
                   s.agent = "unknown";
                   s.power = powered_off || was_stopping || deleting ? "off" : "crashed";
                 });
      if (deleting) FinishDelete(name);
    });
  }
  ScheduleHeartbeat();
}

void ServerCore::ScheduleHeartbeat() {
  heartbeat_timer_.expires_after(config_.heartbeat);
  heartbeat_timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](auto ec) {
    if (ec || alive.expired()) return;
    Heartbeat();
    ScheduleHeartbeat();
  });
}

void ServerCore::Heartbeat() {
  CheckDeadlines();
  for (auto& [name, rt] : runtime_) {
    // A guest going down for a restart is not pinged: its answer would be
    // taken for the new boot's.
    if (!rt->machine || !rt->agent || rt->ping_in_flight || rt->launch_after_stop) continue;
    rt->ping_in_flight = true;
    std::string server = name;
    // Answer within the heartbeat interval, or it counts as missed.
    auto timeout = std::max(Milliseconds(100), config_.heartbeat - Milliseconds(50));
    rt->agent->Ping(timeout, [this, alive = std::weak_ptr<bool>(alive_), server](bool ok) {
      if (!alive.expired()) OnPing(server, ok);
    });
  }
}

void ServerCore::OnPing(const std::string& name, bool answered) {
  auto it = runtime_.find(name);
  if (it == runtime_.end()) return;
  Runtime& rt = *it->second;
  rt.ping_in_flight = false;
  if (!rt.machine || rt.launch_after_stop) return;
  auto r = Load(name);
  if (!r.ok()) return;
  int64_t now = NowMs();
  if (answered) {
    rt.missed_pings = 0;
    bool boot_done = r->task == "starting" || r->task == "creating" || r->task == "rescuing" ||
                     (r->task == "rebooting" && rt.reset_seen);
    if (r->agent != "ok" || boot_done) {
      std::string message =
          r->agent == "unresponsive" ? "guest agent answering again" : "guest agent answering";
      if (boot_done && r->boot_mode == "rescue") {
        message = "rescue mode: root shell on the serial console (kumo console " + name + ")";
      }
      Transition(name, "agent", message, [&](ServerRecord& s) {
        s.agent = "ok";
        s.agent_last_seen_ms = now;
        if (boot_done) EndTask(s);
      });
      if (boot_done && r->boot_mode != "rescue") CollectInitResults(name);
    } else if (now - r->agent_last_seen_ms > 10000) {
      // Keep "last seen" fresh in the store without an event per beat.
      Transition(name, "agent", "", [&](ServerRecord& s) { s.agent_last_seen_ms = now; });
    }
    return;
  }
  ++rt.missed_pings;
  // The guest was asked to go down: its agent may well stop answering, and
  // the task's deadline tells a guest that hangs instead.
  if ((r->task == "stopping" || r->task == "rebooting") && !r->task_force) return;
  if (rt.missed_pings >= config_.missed_pings_for_warning && r->agent == "ok") {
    std::string since = r->agent_last_seen_ms ? ClockTime(r->agent_last_seen_ms) : "boot";
    Transition(name, "agent", "guest agent not responding since " + since,
               [](ServerRecord& s) { s.agent = "unresponsive"; });
  }
}

void ServerCore::CheckDeadlines() {
  int64_t now = NowMs();
  for (const ServerRecord& r : store_.ListServers()) {
    if (r.task == "none" || r.status == "warning") continue;
    if (!FactsOf(r, now).task_overdue) continue;
    Transition(r.name, "task", "stuck in " + r.task + " since " + ClockTime(r.task_started_ms),
               [](ServerRecord&) {});
  }
}

}  // namespace kumo::core
