// ServerCore's operations: each validated against the server's facts, then
// accepted as a task (the returned record shows it under way) or refused
// with nothing changed.
#include "core/server_core.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "core/server_runtime.h"
#include "core/task.h"

namespace kumo::core {

namespace asio = boost::asio;

namespace {

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

// A server of a UEFI image needs OVMF on this host: without it the server is
// refused before anything is made, naming the missing file.
Status CheckFirmware(const hypervisor::MachineSpec& spec, const std::string& image) {
  Status s = hypervisor::CheckUefiFirmware(spec);
  if (s.ok()) return s;
  return Status(s.code(), "image '" + image + "' boots with UEFI, but " + s.message(), s.hint());
}

}  // namespace

Status Busy(const ServerRecord& r) {
  return Status(codes::kServerBusy,
                "server " + r.name + " is busy: " + std::string(ToString(r.task)) + " since " +
                    FormatUtc(r.task_started_ms),
                "wait for it to finish (kumo wait " + r.name +
                    "), or force stop it (kumo stop --force " + r.name + ")");
}

Status CheckIdle(const ServerRecord& r) { return r.task == Task::kNone ? Status::Ok() : Busy(r); }

namespace {
// After kumod restarted, a server's QEMU is driven again only once QMP is
// reconnected: nothing may launch a second one meanwhile.
Status Reattaching(const std::string& name) {
  return Status(codes::kServerBusy,
                "kumod is reconnecting to the QEMU of server " + name + " after its restart",
                "try again in a few seconds");
}
}  // namespace

Status AgentNotResponding(const ServerRecord& r, const std::string& consequence,
                          const std::string& hint) {
  std::string since = r.agent_last_seen_ms
                          ? " (last answer " + FormatUtc(r.agent_last_seen_ms) + ")"
                          : " (it has not answered since the server started)";
  return Status(
      codes::kGuestAgentNotResponding,
      "the guest agent of " + r.name + " is not responding" + since + ", so " + consequence, hint);
}

Status NoGuestAgent(const ServerRecord& r, const std::string& consequence,
                    const std::string& hint) {
  return Status(codes::kInvalidState,
                "server " + r.name + " runs no guest agent (its image " + r.image +
                    " has agent kind none), so " + consequence,
                hint);
}

bool RescuedByKumosSystem(const ImageRecord& image) {
  return image.kernel.empty() || image.agent_kind != "kumo-agent";
}

ServerCore::ServerCore(CoreParts parts, CoreConfig config)
    : io_(parts.io),
      clock_(parts.clock),
      ledger_(parts.ledger),
      store_(parts.store),
      driver_(parts.driver),
      connect_agent_(std::move(parts.connect_agent)),
      config_(std::move(config)),
      heartbeat_(parts.clock, parts.ledger,
                 Heartbeat::Config{config_.heartbeat, config_.missed_pings_for_warning,
                                   config_.on_heartbeat_round_trip}),
      init_follower_(parts.clock, parts.ledger) {
  heartbeat_.SetBootHandler(
      [this](const ServerRecord& r) { IdentifyAgent(r.name, /*boot_ended=*/true); });
}

ServerCore::~ServerCore() {
  *alive_ = false;
  for (auto& [name, rt] : runtime_) {
    if (rt->agent) rt->agent->Close();
    if (rt->machine) rt->machine->SetEventHandler(nullptr);
  }
}

ServerCore::Runtime& ServerCore::RuntimeOf(const std::string& name) {
  auto& rt = runtime_[name];
  if (!rt) rt = std::make_unique<Runtime>();
  return *rt;
}

std::shared_ptr<guestlink::GuestAgent> ServerCore::AgentOf(const std::string& name) const {
  auto it = runtime_.find(name);
  return it == runtime_.end() ? nullptr : it->second->agent;
}

Result<ServerRecord> ServerCore::Get(const std::string& name) const { return ledger_.Get(name); }
std::vector<ServerRecord> ServerCore::List() const { return ledger_.List(); }

Result<std::vector<EventRecord>> ServerCore::Events(const std::string& name, int64_t after_id,
                                                    int limit) const {
  if (auto r = ledger_.Get(name); !r.ok()) return r.status();
  return ledger_.Events(name, after_id, limit);
}

Result<std::vector<EventRecord>> ServerCore::EventsBefore(const std::string& name,
                                                          int64_t before_id, int limit) const {
  if (auto r = ledger_.Get(name); !r.ok()) return r.status();
  return ledger_.EventsBefore(name, before_id, limit);
}

Status ServerCore::RegisterImage(const ImageRecord& image) { return store_.PutImage(image); }
std::vector<ImageRecord> ServerCore::Images() const { return store_.ListImages(); }

std::string ServerCore::AgentKindOf(const ServerRecord& r) const {
  if (auto it = runtime_.find(r.name); it != runtime_.end() && !it->second->agent_seen.empty()) {
    return it->second->agent_seen;
  }
  return ImageAgentKindOf(r);
}

std::string ServerCore::ImageAgentKindOf(const ServerRecord& r) const {
  auto image = store_.GetImage(r.image);
  return image ? image->agent_kind : "kumo-agent";
}

void ServerCore::IdentifyAgent(const std::string& name, bool boot_ended) {
  auto agent = AgentOf(name);
  if (!agent) return;
  agent->GetAgentIdentity([this, alive = std::weak_ptr<bool>(alive_), name, agent,
                           boot_ended](Result<guestlink::AgentIdentity> id) {
    auto it = runtime_.find(name);
    if (alive.expired() || it == runtime_.end() || it->second->agent != agent) return;
    auto r = ledger_.Get(name);
    if (!r.ok()) return;
    Runtime& rt = *it->second;
    // No answer: the image's word stands.
    const std::string seen = !id.ok() ? "" : id->kumo_commands ? "kumo-agent" : "qemu-ga";
    const bool seen_before = !rt.agent_seen.empty();
    const std::string before = AgentKindOf(*r);  // seen in this QEMU, else the image's
    rt.agent_seen = seen;
    if (!seen.empty() && seen != before && r->boot_mode == BootMode::kNormal) {
      (void)ledger_.Note(name, "agent",
                         "the guest's agent is " + seen +
                             (id->version.empty() ? "" : " " + id->version) + ", not " + before +
                             (seen_before ? " as before" : " as its image says") + ": kumod " +
                             (seen == "kumo-agent" ? "asks it for kumo-health and init status"
                                                   : "does not ask it for kumo-health or init "
                                                     "status"));
    }
    if (boot_ended) AfterBoot(*r);
  });
}

void ServerCore::AfterBoot(const ServerRecord& r) {
  auto agent = AgentOf(r.name);
  if (!agent) return;
  // qemu-ga knows neither kumo-health nor kumo-init-status: say so once a
  // boot instead of asking and failing.
  if (const std::string kind = AgentKindOf(r); kind != "kumo-agent") {
    if (!r.user_data.empty() && r.boot_mode != BootMode::kRescue) {
      (void)ledger_.Note(r.name, "init",
                         "init status not available: the image's agent is " + kind +
                             " (kumo-init-status needs kumo-agent)");
    }
    return;
  }
  // The agent's pid, so that a restart of it can be told with both pids.
  agent->Health([this, alive = std::weak_ptr<bool>(alive_), name = r.name](auto h) {
    if (auto it = runtime_.find(name); !alive.expired() && it != runtime_.end()) {
      it->second->agent_pid = AgentPidOf(h);
    }
  });
  if (r.boot_mode == BootMode::kRescue) return;
  init_follower_.Follow(r.name, agent);
}

bool ServerCore::BootHasAgent(const ServerRecord& r) const {
  return r.boot_mode == BootMode::kRescue || ImageAgentKindOf(r) != "none";
}

hypervisor::MachineSpec ServerCore::MachineSpecOf(const ServerRecord& r) const {
  hypervisor::MachineSpec spec;
  spec.name = r.name;
  spec.vcpus = r.vcpus;
  spec.memory_mib = r.memory_mib;
  spec.disk_gib = r.disk_gib;
  bool rescue_system = false;
  if (auto image = store_.GetImage(r.image)) {
    spec.kernel = image->kernel;
    spec.initrd = image->initrd;
    spec.cmdline = image->cmdline;
    spec.base_disk = image->disk;
    spec.base_format = image->format;
    if (r.boot_mode == BootMode::kRescue) {
      rescue_system = RescuedByKumosSystem(*image);
      if (rescue_system) {
        // kumo's rescue system, with the server's own disk (its overlay) as
        // the only disk: the seed is left out, as the server's own system
        // is not booting.
        spec.kernel = config_.rescue_kernel;
        spec.initrd = config_.rescue_initrd;
        spec.cmdline = "console=ttyS0 kumo.rescue kumo.server=" + r.name;
      } else {
        spec.cmdline += " kumo.rescue";
      }
    }
    // kumo's rescue system boots directly (SeaBIOS is enough for -kernel);
    // the server's own boot uses the firmware its image needs.
    if (image->firmware == "uefi" && !rescue_system) {
      spec.uefi_code = config_.ovmf_code;
      spec.uefi_vars_template = config_.ovmf_vars;
    }
  }
  std::error_code ec;
  if (!rescue_system && !r.run_dir.empty() &&
      std::filesystem::exists(r.run_dir + "/seed.iso", ec)) {
    spec.seed_image = r.run_dir + "/seed.iso";
  }
  spec.accel = config_.accel;
  spec.ssh_host_port = r.ssh_port;
  spec.paths.run_dir = r.run_dir;
  return spec;
}

Result<ServerRecord> ServerCore::Create(const ServerSpec& spec) {
  if (Status s = ValidateSpec(spec); !s.ok()) return s;
  auto image = store_.GetImage(spec.image);
  if (!image) {
    return Status(codes::kNotFound, "no image named '" + spec.image + "'",
                  "list images: kumo images")
        .set_field("image");
  }
  Result<int> disk_gib = DiskGibFor(spec, *image);
  if (!disk_gib.ok()) return disk_gib.status();
  if (ledger_.Get(spec.name).ok()) {
    return Status(codes::kAlreadyExists, "a server named '" + spec.name + "' already exists",
                  "choose another name, or delete the old server first")
        .set_field("name");
  }
  ServerRecord r;
  r.name = spec.name;
  r.image = spec.image;
  r.vcpus = spec.vcpus;
  r.memory_mib = spec.memory_mib;
  r.disk_gib = *disk_gib;
  r.ssh_key = spec.ssh_key;
  r.user_data = spec.user_data;
  r.run_dir = config_.state_dir + "/servers/" + spec.name;
  if (config_.first_ssh_port > 0) {
    // The lowest port from the base that no other server holds.
    std::set<int> taken;
    for (const auto& other : ledger_.List()) taken.insert(other.ssh_port);
    int port = config_.first_ssh_port;
    while ((taken.count(port) || !PortIsFree(port)) && port < 65535) ++port;
    r.ssh_port = port;
  }
  if (Status s = CheckFirmware(MachineSpecOf(r), r.image); !s.ok()) return s;
  BeginTask(r, Task::kCreating, config_.boot_timeout, NowMs());
  r.status_reason = "creating";
  if (Status s = MakeSeed(r); !s.ok()) return s;
  auto created = ledger_.Create(r, "created (" + std::to_string(r.vcpus) + " vCPU, " +
                                       std::to_string(r.memory_mib) + " MiB, " +
                                       std::to_string(r.disk_gib) + " GiB, image " + r.image + ")");
  if (!created.ok()) {
    std::error_code ec;
    std::filesystem::remove_all(r.run_dir, ec);
    return created;
  }
  NoteUserDataWarnings(r);
  Launch(r.name);
  return created;
}

Result<ServerRecord> ServerCore::Start(const std::string& name) {
  auto r = ledger_.Get(name);
  if (!r.ok()) return r;
  if (Status s = CheckIdle(*r); !s.ok()) return s;
  Runtime& rt = RuntimeOf(name);
  if (rt.launching) return Reattaching(name);
  if (rt.machine && rt.machine->alive()) {
    if (r->power == Power::kCrashed) {
      return Status(codes::kInvalidState,
                    "server " + name + " has crashed and its QEMU is still there for inspection",
                    "force stop it first: kumo stop --force " + name);
    }
    return Status(codes::kInvalidState, "server " + name + " is already running",
                  "to restart it: kumo reboot " + name);
  }
  if (Status s = CheckFirmware(MachineSpecOf(*r), r->image); !s.ok()) return s;
  auto started = Transition(name, "task", "starting", [&](ServerRecord& s) {
    BeginTask(s, Task::kStarting, config_.boot_timeout, NowMs());
    s.agent = AgentState::kUnknown;
    s.boot_mode = BootMode::kNormal;
  });
  if (started.ok()) Launch(name);
  return started;
}

Result<ServerRecord> ServerCore::Stop(const std::string& name, bool force) {
  auto r = ledger_.Get(name);
  if (!r.ok()) return r;
  Runtime& rt = RuntimeOf(name);
  if (force) {
    // The way out that always works: allowed while another task hangs, and
    // asked again it kills at once.
    CancelRelaunch(rt);
    if (r->task == Task::kDeleting || rt.force_stopping) {
      KillNow(name);
      return r;
    }
    auto stopping = Transition(name, "task", "force stop requested", [&](ServerRecord& s) {
      BeginTask(s, Task::kStopping, config_.force_kill_after + Milliseconds(3000), NowMs(), true);
    });
    if (stopping.ok()) ForceStop(name);
    return stopping;
  }
  if (Status s = CheckIdle(*r); !s.ok()) return s;
  if (r->power == Power::kOff) {
    return Status(codes::kInvalidState, "server " + name + " is already stopped", "");
  }
  if (r->power == Power::kCrashed) {
    return Status(codes::kInvalidState,
                  "server " + name + " has crashed (" + r->status_reason +
                      "), so its guest cannot shut down by itself",
                  "force stop it (kumo stop --force " + name +
                      "); its console log (kumo console-log " + name + ") shows what happened");
  }
  if (r->agent == AgentState::kNone) {
    return PressPowerButtonToStop(name,
                                  "graceful stop requested: the server runs no guest agent, so its "
                                  "power button is pressed (ACPI)");
  }
  if (r->agent != AgentState::kOk || !rt.agent) {
    return AgentNotResponding(
        *r, "the guest OS cannot be asked to shut down",
        "press its power button (kumo stop --acpi " + name +
            ": the guest's OS shuts down if it still can), force stop it (kumo stop --force " +
            name + ", like pulling the power cord), or log in on the console (kumo console " +
            name + ") to see what the guest is doing");
  }
  auto stopping = Transition(name, "task", "graceful stop requested", [&](ServerRecord& s) {
    BeginTask(s, Task::kStopping, config_.stop_timeout, NowMs());
  });
  if (!stopping.ok()) return stopping;
  rt.agent->Shutdown(guestlink::ShutdownMode::kPowerdown,
                     [this, alive = std::weak_ptr<bool>(alive_), name](Status s) {
                       if (alive.expired() || s.ok()) return;
                       Transition(name, "agent", "the guest refused to shut down: " + s.message(),
                                  [](ServerRecord& r) {
                                    if (r.task == Task::kStopping) EndTask(r);
                                  });
                     });
  return stopping;
}

Result<ServerRecord> ServerCore::Reboot(const std::string& name, bool force) {
  auto r = ledger_.Get(name);
  if (!r.ok()) return r;
  if (Status s = CheckIdle(*r); !s.ok()) return s;
  Runtime& rt = RuntimeOf(name);
  if (!rt.machine || r->power == Power::kOff) {
    return Status(codes::kInvalidState, "server " + name + " is not running",
                  "start it: kumo start " + name);
  }
  if (!force && r->agent == AgentState::kNone) {
    return Restart(name, r->boot_mode, Task::kRebooting,
                   "reboot requested: the server runs no guest agent, so it is powered off "
                   "through its power button (ACPI) and started again");
  }
  if (!force && (r->agent != AgentState::kOk || !rt.agent)) {
    return AgentNotResponding(*r, "the guest OS cannot be asked to reboot",
                              "force a reset (kumo reboot --force " + name +
                                  "), or use the console (kumo console " + name + ")");
  }
  auto rebooting = Transition(
      name, "task", force ? "hard reset requested" : "reboot requested", [&](ServerRecord& s) {
        BeginTask(s, Task::kRebooting, config_.reboot_timeout, NowMs(), force);
        if (s.power == Power::kCrashed || s.power == Power::kPaused) {
          s.power = Power::kRunning;
        }
      });
  if (!rebooting.ok()) return rebooting;
  heartbeat_.AwaitReset(name);  // the reboot ends on an answer after the reset
  auto failed = [this, alive = std::weak_ptr<bool>(alive_), name](const std::string& why) {
    if (alive.expired()) return;
    Transition(name, "task", "reboot failed: " + why, [](ServerRecord& s) {
      if (s.task == Task::kRebooting) EndTask(s);
    });
  };
  if (force) {
    rt.machine->SystemReset([failed](Status s) {
      if (!s.ok()) failed(s.message());
    });
  } else {
    rt.agent->Shutdown(guestlink::ShutdownMode::kReboot, [failed](Status s) {
      if (!s.ok()) failed(s.message());
    });
  }
  return rebooting;
}

Result<ServerRecord> ServerCore::Rescue(const std::string& name) {
  auto r = ledger_.Get(name);
  if (!r.ok()) return r;
  // The kumo image boots its own kernel with kumo.rescue; an image that boots
  // from its disk, or runs another agent, gets kumo's rescue system, its disk
  // attached.
  if (auto image = store_.GetImage(r->image); image && RescuedByKumosSystem(*image)) {
    std::error_code ec;
    if (config_.rescue_kernel.empty() || !std::filesystem::exists(config_.rescue_kernel, ec) ||
        !std::filesystem::exists(config_.rescue_initrd, ec)) {
      return Status(
          codes::kInvalidState,
          "kumo's rescue system is not installed on this host (kumod --rescue-dir: " +
              (config_.rescue_kernel.empty()
                   ? std::string("none given")
                   : config_.rescue_kernel + " or " + config_.rescue_initrd + " is missing") +
              "), so a server of image " + r->image +
              (image->kernel.empty() ? ", which boots from its disk,"
                                     : ", whose agent is " + image->agent_kind + ",") +
              " cannot be rescued",
          "build it (cmake --build build --target guest-rescue-image) and give kumod "
          "--rescue-dir; meanwhile use the console (kumo console " +
              name + ")");
    }
  }
  return Restart(name, BootMode::kRescue, Task::kRescuing, "rescue boot requested");
}

Result<ServerRecord> ServerCore::Unrescue(const std::string& name) {
  auto r = ledger_.Get(name);
  if (!r.ok()) return r;
  if (r->boot_mode != BootMode::kRescue) {
    return Status(codes::kInvalidState, "server " + name + " is not in rescue mode", "");
  }
  return Restart(name, BootMode::kNormal, Task::kStarting, "normal boot requested");
}

Result<ServerRecord> ServerCore::Restart(const std::string& name, BootMode boot_mode, Task task,
                                         const std::string& message) {
  auto r = ledger_.Get(name);
  if (!r.ok()) return r;
  if (Status s = CheckIdle(*r); !s.ok()) return s;
  Runtime& rt = RuntimeOf(name);
  if (rt.launching) return Reattaching(name);
  bool running = rt.machine && rt.machine->alive();
  const bool can_ask = (r->agent == AgentState::kOk && rt.agent) || r->agent == AgentState::kNone;
  auto restarting = Transition(name, "task", message, [&](ServerRecord& s) {
    BeginTask(s, task, task == Task::kRebooting ? config_.reboot_timeout : config_.boot_timeout,
              NowMs(), running);
    s.boot_mode = boot_mode;
    s.agent = AgentState::kUnknown;
  });
  if (!restarting.ok()) return restarting;
  if (!running) {
    Launch(name);
  } else if (can_ask) {
    // A reboot is a graceful stop first: it gets the stop's time.
    PowerOffThenLaunch(name, task == Task::kRebooting ? config_.stop_timeout
                                                      : config_.restart_grace);
  } else {
    rt.launch_after_stop = true;  // the guest cannot be asked: force it
    heartbeat_.Pause(name);
    ForceStop(name);
  }
  return restarting;
}

Result<ServerRecord> ServerCore::Delete(const std::string& name, bool force) {
  auto r = ledger_.Get(name);
  if (!r.ok()) return r;
  Runtime& rt = RuntimeOf(name);
  bool running = (rt.machine && rt.machine->alive()) || rt.launching;
  if (!force) {
    if (Status s = CheckIdle(*r); !s.ok()) return s;
    if (running) {
      return Status(codes::kInvalidState, "server " + name + " is running",
                    "stop it first (kumo stop " + name + "), or delete with --force");
    }
  } else if (r->task == Task::kDeleting) {
    KillNow(name);  // asked again: finish it now
    return r;
  }
  CancelRelaunch(rt);
  auto deleting = Transition(name, "task", "delete requested", [&](ServerRecord& s) {
    BeginTask(s, Task::kDeleting, config_.delete_timeout, NowMs());
  });
  if (!deleting.ok()) return deleting;
  if (running) {
    rt.delete_after_stop = true;
    ForceStop(name);
  } else {
    asio::post(io_, [this, alive = std::weak_ptr<bool>(alive_), name] {
      if (!alive.expired()) FinishDelete(name);
    });
  }
  return deleting;
}

}  // namespace kumo::core
