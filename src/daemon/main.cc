// kumod: the kumo daemon. One Boost.Asio event loop serves the REST API, runs
// the server core (tasks, heartbeat) and drives QEMU. See README.md.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "api/http_server.h"
#include "api/metrics_endpoint.h"
#include "api/router.h"
#include "common/clock.h"
#include "common/disk_space.h"
#include "common/state_dir.h"
#include "core/image_library.h"
#include "core/server_core.h"
#include "daemon/guest_isolation.h"
#include "daemon/qemu_user.h"
#include "guestlink/guest_agent.h"
#include "hypervisor/disk_image.h"
#include "hypervisor/host_agent_driver.h"
#include "hypervisor/qemu_driver.h"
#include "hypervisor/uefi_firmware.h"
#include "store/sqlite_store.h"

namespace {

using kumo::Status;

// Raises the soft limit on open files to the hard limit: every API
// connection and every server's sockets and console take descriptors, and
// the usual soft limit (1024) is far below what the host allows. Returns the
// limit in force.
uint64_t RaiseOpenFilesLimit() {
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) != 0) return 1024;
  if (files.rlim_cur < files.rlim_max) {
    rlimit raised = files;
    raised.rlim_cur = files.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) files = raised;
  }
  return files.rlim_cur;
}

// Registers the image described by DIR/image.json (as built by guest/). Its
// disk's format and virtual size come from qemu-img (run as `run_as`).
Status RegisterImageDir(kumo::core::ServerCore& core, const std::string& dir, int64_t now_ms,
                        const std::optional<kumo::hypervisor::RunAs>& run_as) {
  std::ifstream in(dir + "/image.json");
  if (!in) return Status(kumo::codes::kNotFound, "no image.json in " + dir);
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status(kumo::codes::kInvalidArgument, dir + "/image.json is not a JSON object");
  }
  std::string abs = std::filesystem::absolute(dir).lexically_normal().string();
  kumo::ImageRecord image;
  image.name = j.value("name", "");
  // An image that names no kernel boots from its disk with its own bootloader
  // (an initrd or a command line then has nothing to go with).
  const std::string kernel = j.value("kernel", "");
  const std::string initrd = j.value("initrd", "");
  image.cmdline = j.value("cmdline", "");
  if (kernel.empty() && (!initrd.empty() || !image.cmdline.empty())) {
    return Status(kumo::codes::kInvalidArgument,
                  dir + "/image.json names an initrd or a kernel command line but no kernel",
                  "add \"kernel\", or remove them to boot from the image's disk");
  }
  if (!kernel.empty()) image.kernel = abs + "/" + kernel;
  if (!initrd.empty()) image.initrd = abs + "/" + initrd;
  image.disk = abs + "/" + j.value("disk", "rootfs.qcow2");
  image.kernel_release = j.value("kernel_release", "");
  image.registered_ms = now_ms;
  image.firmware = j.value("firmware", "bios");
  image.login_user = j.value("login_user", "root");
  image.agent_kind = j.value("agent_kind", j.value("agent", "kumo-agent"));
  image.os = j.value("os", "");
  image.user_data_support =
      j.value("user_data_support", kumo::core::DefaultUserDataSupport(image.agent_kind));
  if (image.name.empty()) return Status(kumo::codes::kInvalidArgument, "image.json has no name");
  if (Status s = kumo::core::ValidateImageMetadata(
          image.firmware, image.login_user, image.agent_kind, image.os, image.user_data_support);
      !s.ok()) {
    return Status(s.code(), dir + "/image.json: " + s.message());
  }
  // The operator's own image is trusted as before: without an answer from
  // qemu-img it is registered as qcow2 of unknown size (no disk size check).
  auto info = kumo::hypervisor::InspectDiskImage("qemu-img", image.disk, run_as);
  if (info.ok()) {
    image.format = info->format;
    image.virtual_size_bytes = info->virtual_size_bytes;
  } else {
    std::cerr << "kumod: warning: image " << image.name << ": " << info.status().message()
              << "; its size is unknown, so disks are not checked against it" << std::endl;
  }
  return core.RegisterImage(image);
}

// Makes the OVMF paths absolute, refuses one QEMU could not be given (a ','
// would end its option), and says whether UEFI images can boot: a host
// without OVMF still runs BIOS images.
Status CheckOvmf(std::string* code, std::string* vars) {
  for (std::string* path : {code, vars}) {
    *path = std::filesystem::absolute(*path).lexically_normal().string();
    bool control = std::any_of(path->begin(), path->end(),
                               [](unsigned char c) { return c < 0x20 || c == 0x7f; });
    if (control || path->find(',') != std::string::npos) {
      return Status(kumo::codes::kInvalidArgument,
                    "OVMF path " + *path + " contains ',' or a control character",
                    "QEMU reads ',' as an option separator; move or link the file elsewhere");
    }
  }
  std::error_code ec;
  if (std::filesystem::is_regular_file(*code, ec) && std::filesystem::is_regular_file(*vars, ec)) {
    std::cout << "kumod: UEFI images boot with " << *code << " (variables: " << *vars << ")"
              << std::endl;
  } else {
    std::cerr << "kumod: warning: no UEFI firmware at " << *code << " and " << *vars
              << ": servers of UEFI images are refused (apt-get install ovmf, or --ovmf-code and "
                 "--ovmf-vars)"
              << std::endl;
  }
  return Status::Ok();
}

}  // namespace

// Logs when the state directory's filesystem runs low on space, and when it
// has room again (checked every 30 s; GET /v1/host has the figures).
class DiskSpaceWatch {
 public:
  DiskSpaceWatch(kumo::Clock& clock, std::string dir) : clock_(clock), dir_(std::move(dir)) {
    Check();
  }

 private:
  void Check() {
    if (auto space = kumo::DiskSpaceOf(dir_); space.ok() && space->low() != low_) {
      low_ = space->low();
      std::cerr << "kumod: " << (low_ ? "warning: " : "") << "the filesystem of " << dir_ << " has "
                << (space->free_bytes >> 20) << " MiB free of " << (space->total_bytes >> 20)
                << " MiB"
                << (low_ ? "; when it is full, changes are kept in memory until space returns"
                         : " again")
                << std::endl;
    }
    alarm_ = clock_.After(std::chrono::seconds(30), [this] { Check(); });
  }

  kumo::Clock& clock_;
  std::string dir_;
  bool low_ = false;
  std::unique_ptr<kumo::Alarm> alarm_;
};

int main(int argc, char** argv) {
  // Everything kumod and its children (qemu-img, QEMU) create in the state
  // directory is private: files 0600, directories 0700, sockets included.
  umask(077);
  CLI::App app{"kumod: the kumo daemon (QEMU virtual servers, REST API)"};
  std::string state_dir = kumo::DefaultStateDir();
  std::string listen = "127.0.0.1:8470";
  std::string accel = "kvm";
  std::vector<std::string> image_dirs;
  int heartbeat_ms = 1000;
  int stop_timeout_s = 60;
  int boot_timeout_s = 180;
  int ssh_port_base = 2222;
  int watch_queue_kib = 1024;
  int image_upload_max_gib = 64;
  const uint64_t open_files = RaiseOpenFilesLimit();
  int max_connections = static_cast<int>(kumo::api::DefaultMaxConnections(open_files));
  std::string qemu_user = kumo::daemon::kDefaultQemuUser;
  std::string guest_isolation;
  double health_interval_s = 5;
  double cpu_saturated_after_s = 120;
  double boot_stuck_after_s = 90;
  std::string panel_dir = KUMO_DEFAULT_PANEL_DIR;
  std::string ovmf_code = kumo::hypervisor::kDebianOvmfCode;
  std::string ovmf_vars = kumo::hypervisor::kDebianOvmfVars;
  std::string rescue_dir = KUMO_DEFAULT_RESCUE_DIR;
  std::string driver_name = "qemu";
  std::string fake_agent = KUMO_DEFAULT_AGENT_PATH;
  app.add_option("--state-dir", state_dir,
                 "database, token and servers (default: " + state_dir + ")");
  app.add_option("--listen", listen, "API address, IP:PORT (default 127.0.0.1:8470)");
  app.add_option("--panel-dir", panel_dir,
                 "the web panel's built files, served at / (default: " + panel_dir + ")");
  app.add_option("--accel", accel, "QEMU accelerator (default kvm)")
      ->check(CLI::IsMember({"kvm", "tcg"}));
  app.add_option("--image-dir", image_dirs,
                 "register the image built in DIR (image.json); repeatable");
  app.add_option("--rescue-dir", rescue_dir,
                 "kumo's rescue system (vmlinuz, initrd.img), for rescuing servers whose image "
                 "boots from its disk (default: " +
                     rescue_dir + ")");
  app.add_option("--heartbeat-ms", heartbeat_ms, "agent heartbeat interval (default 1000)")
      ->check(CLI::Range(100, 60000));
  app.add_option("--stop-timeout", stop_timeout_s, "seconds a graceful stop may take (default 60)")
      ->check(CLI::Range(1, 3600));
  app.add_option("--boot-timeout", boot_timeout_s,
                 "seconds from start until the agent must answer (default 180)")
      ->check(CLI::Range(1, 3600));
  app.add_option("--ssh-port-base", ssh_port_base,
                 "forward 127.0.0.1:PORT to each server's SSH port, from this port up "
                 "(default 2222; 0: no forwards)")
      ->check(CLI::Range(0, 65000));
  app.add_option("--watch-queue-kib", watch_queue_kib,
                 "per watcher of /v1/watch: KiB of messages queued for a client that does not "
                 "read before it is dropped (default 1024)")
      ->check(CLI::Range(16, 65536));
  app.add_option("--image-upload-max-gib", image_upload_max_gib,
                 "the largest image PUT /v1/images/NAME/disk takes, GiB (default 64)")
      ->check(CLI::Range(1, 4096));
  app.add_option("--max-connections", max_connections,
                 "concurrent API connections, watch streams and consoles included; more are "
                 "answered 503 (default: half of the open-files limit after 64, at most 4096; "
                 "here " +
                     std::to_string(max_connections) + ")")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--qemu-user", qemu_user,
                 "when kumod runs as root, run QEMU as this unprivileged user (default kumo-qemu)");
  app.add_option("--guest-isolation", guest_isolation,
                 "on: guests reach nothing on the host but their forwards (nftables); off: they "
                 "reach its loopback (default on as root)")
      ->check(CLI::IsMember({"on", "off"}));
  app.add_option("--health-interval", health_interval_s,
                 "seconds between kumo-health polls, host figures and SSH probes of each "
                 "running server (default 5)")
      ->check(CLI::Range(0.5, 300.0));
  app.add_option("--cpu-saturated-after", cpu_saturated_after_s,
                 "seconds a guest must keep its vCPUs busy to be diagnosed cpu_saturated "
                 "(default 120)")
      ->check(CLI::Range(5.0, 86400.0));
  app.add_option("--boot-stuck-after", boot_stuck_after_s,
                 "seconds after a boot began without an agent answer before the diagnosis says "
                 "boot_stuck or agent_missing (default 90)")
      ->check(CLI::Range(5.0, 86400.0));
  app.add_option("--ovmf-code", ovmf_code,
                 "servers of UEFI images boot with this OVMF code, read-only (default: " +
                     ovmf_code + ", from Debian's ovmf)");
  app.add_option("--ovmf-vars", ovmf_vars,
                 "the empty UEFI variable store each such server gets its own copy of (default: " +
                     ovmf_vars + ")");
  app.add_option("--driver", driver_name,
                 "qemu: servers are QEMU machines (default); fake: for benchmarks and panel "
                 "tests only, no QEMU, each server a kumo-agent process on this host "
                 "(docs/kumod.md, \"The fake driver\")")
      ->check(CLI::IsMember({"qemu", "fake"}));
  app.add_option(
      "--fake-agent", fake_agent,
      "with --driver fake: the kumo-agent binary each server runs (default: " + fake_agent + ")");
  CLI11_PARSE(app, argc, argv);
  if (Status s = CheckOvmf(&ovmf_code, &ovmf_vars); !s.ok()) {
    std::cerr << "kumod: " << s.message() << "\nhint: " << s.hint() << "\n";
    return 1;
  }

  if (Status s = kumo::PrepareStateDir(state_dir); !s.ok()) {
    std::cerr << "kumod: " << s.message() << "\nhint: " << s.hint() << "\n";
    return 1;
  }
  auto lock = kumo::LockStateDir(state_dir);
  if (!lock.ok()) {
    std::cerr << "kumod: " << lock.status().message() << "\nhint: " << lock.status().hint() << "\n";
    return 1;
  }
  auto token = kumo::LoadOrCreateToken(state_dir);
  if (!token.ok()) {
    std::cerr << "kumod: " << token.status().message() << "\nhint: " << token.status().hint()
              << "\n";
    return 1;
  }
  auto store = kumo::store::SqliteStore::Open(state_dir + "/kumod.db");
  if (!store.ok()) {
    std::cerr << "kumod: " << store.status().message() << "\n";
    return 1;
  }

  auto qemu = kumo::daemon::SetUpQemuUser(
      qemu_user, std::filesystem::absolute(state_dir).lexically_normal().string());
  if (!qemu.ok()) {
    std::cerr << "kumod: " << qemu.status().message() << "\nhint: " << qemu.status().hint() << "\n";
    return 1;
  }
  std::cout << kumo::daemon::Describe(*qemu) << std::endl;
  auto isolation = kumo::daemon::SetUpGuestIsolation(guest_isolation, *qemu);
  if (!isolation.ok()) {
    std::cerr << "kumod: " << isolation.status().message()
              << "\nhint: " << isolation.status().hint() << "\n";
    return 1;
  }
  std::cout << *isolation << std::endl;

  boost::asio::io_context io;
  std::unique_ptr<kumo::hypervisor::HypervisorDriver> driver;
  if (driver_name == "fake") {
    std::cerr << "kumod: WARNING: --driver fake: servers run NO QEMU; each is a kumo-agent "
                 "process on this host (exec runs ON THE HOST). For benchmarks and panel tests "
                 "only, never for users' servers."
              << std::endl;
    driver = std::make_unique<kumo::hypervisor::HostAgentDriver>(io, fake_agent, qemu->run_as);
  } else {
    driver = std::make_unique<kumo::hypervisor::QemuDriver>(io, "qemu-system-x86_64", "qemu-img",
                                                            qemu->run_as);
  }
  kumo::core::CoreConfig config;
  config.state_dir = std::filesystem::absolute(state_dir).lexically_normal().string();
  config.accel = accel;
  config.heartbeat = std::chrono::milliseconds(heartbeat_ms);
  config.stop_timeout = std::chrono::seconds(stop_timeout_s);
  config.boot_timeout = std::chrono::seconds(boot_timeout_s);
  config.reboot_timeout = std::chrono::seconds(boot_timeout_s);
  config.first_ssh_port = ssh_port_base;
  config.ovmf_code = ovmf_code;
  config.ovmf_vars = ovmf_vars;
  if (!rescue_dir.empty()) {
    const std::string dir = std::filesystem::absolute(rescue_dir).lexically_normal().string();
    config.rescue_kernel = dir + "/vmlinuz";
    config.rescue_initrd = dir + "/initrd.img";
    if (!std::filesystem::exists(config.rescue_kernel) ||
        !std::filesystem::exists(config.rescue_initrd)) {
      std::cerr << "kumod: warning: no rescue system in " << dir
                << " (vmlinuz, initrd.img): servers whose image boots from its disk cannot be "
                   "rescued; build it with: cmake --build build --target guest-rescue-image"
                << std::endl;
    }
  }
  kumo::telemetry::Histogram heartbeat_round_trip(kumo::api::LatencyBuckets());
  config.on_heartbeat_round_trip = [&heartbeat_round_trip](double s) {
    heartbeat_round_trip.Observe(s);
  };
  std::unique_ptr<kumo::Clock> clock = kumo::MakeSystemClock(io);
  kumo::core::ServerLedger ledger(**store, *clock);
  // A full disk must not take force stop with it (docs/kumod.md, "Full disk").
  kumo::SpaceReserve reserve(config.state_dir + "/kumod.reserve",
                             kumo::SpaceReserve::kDefaultBytes);
  if (Status s = reserve.Restore(); !s.ok()) std::cerr << "kumod: warning: " << s.message() << "\n";
  ledger.SetSpaceReserve(
      {[&reserve] { return reserve.Release(); }, [&reserve] { (void)reserve.Restore(); }});
  DiskSpaceWatch disk_watch(*clock, config.state_dir);
  kumo::core::ServerCore core(kumo::core::CoreParts{io, *clock, ledger, **store, *driver,
                                                    [&io](const std::string& socket) {
                                                      return kumo::guestlink::ConnectGuestAgent(
                                                          io, socket);
                                                    }},
                              config);
  if (image_dirs.empty() && std::filesystem::exists(KUMO_DEFAULT_IMAGE_DIR "/image.json")) {
    image_dirs.push_back(KUMO_DEFAULT_IMAGE_DIR);
  }
  for (const auto& dir : image_dirs) {
    if (Status s = RegisterImageDir(core, dir, clock->NowMs(), qemu->run_as); !s.ok()) {
      std::cerr << "kumod: cannot register image " << dir << ": " << s.message() << "\n";
      return 1;
    }
  }

  kumo::diagnosis::ObserverConfig observer_config;
  observer_config.state_dir = config.state_dir;
  observer_config.health_interval =
      std::chrono::milliseconds(static_cast<int64_t>(health_interval_s * 1000));
  observer_config.rules.cpu_saturated_after_ms = static_cast<int64_t>(cpu_saturated_after_s * 1000);
  observer_config.rules.boot_stuck_after_ms = static_cast<int64_t>(boot_stuck_after_s * 1000);
  kumo::diagnosis::ServerObserver observer(io, *clock, ledger, core, observer_config);

  kumo::api::WatchEndpoint watch(ledger);
  kumo::api::ApiStats api_stats;
  kumo::api::MetricsSources metrics{core, observer, api_stats, heartbeat_round_trip,
                                    [&watch] { return watch.watchers(); }};
  kumo::api::Router router(core, watch, *token,
                           {&observer, &api_stats, [&metrics] { return RenderMetrics(metrics); }});
  auto panel = kumo::api::PanelFiles::Load(panel_dir);
  if (panel.ok()) {
    std::cout << "kumod: web panel from " << panel_dir << " (" << panel->file_count() << " files)"
              << std::endl;
  } else {
    std::cout << "kumod: no web panel: " << panel.status().message() << " ("
              << panel.status().hint() << "); the API works without it" << std::endl;
  }
  router.ServePanel(std::move(panel));
  kumo::core::ImageLibraryConfig image_config{config.state_dir, "qemu-img", qemu->run_as};
  image_config.max_upload_bytes = static_cast<uint64_t>(image_upload_max_gib) << 30;
  kumo::core::ImageLibrary images(io, **store, image_config, [&core](const std::string& image) {
    std::vector<std::string> users;
    for (const auto& s : core.List()) {
      if (s.image == image) users.push_back(s.name);
    }
    return users;
  });
  router.ServeImages(&images);
  kumo::api::HttpServer server(io, [&router](const kumo::api::ApiRequest& r, auto respond) {
    router.Handle(r, std::move(respond));
  });
  kumo::api::EventStreamOptions stream_options;
  stream_options.max_queued_bytes = static_cast<size_t>(watch_queue_kib) * 1024;
  server.SetEventStreamOptions(stream_options);
  server.SetMaxConnections(static_cast<size_t>(max_connections));
  std::cout << "kumod: open files limit " << open_files << ", at most " << max_connections
            << " API connections" << std::endl;
  if (static_cast<uint64_t>(max_connections) + 64 > open_files) {
    std::cerr << "kumod: warning: --max-connections " << max_connections
              << " leaves too few of the " << open_files
              << " open files allowed for the servers and kumod itself; when they run out, new "
                 "connections wait in the listen backlog"
              << std::endl;
  }
  server.SetUpgradeHandler([&router](const kumo::api::ApiRequest& r, auto channel) {
    return router.HandleUpgrade(r, std::move(channel));
  });
  server.SetUploadHandler([&router](const kumo::api::ApiRequest& r, auto content_length) {
    return router.HandleUpload(r, content_length);
  });
  if (Status s = server.Listen(listen); !s.ok()) {
    std::cerr << "kumod: " << s.message() << "\nhint: " << s.hint() << "\n";
    return 1;
  }
  core.Recover();
  observer.Start();

  // SIGTERM/SIGINT end kumod; the servers' QEMUs keep running.
  boost::asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&io](auto, int) { io.stop(); });
  signal(SIGPIPE, SIG_IGN);

  std::cout << "kumod: listening on http://" << listen.substr(0, listen.rfind(':')) << ":"
            << server.port() << " (state " << state_dir << ", accel " << accel << ")\n"
            << "kumod: API token in " << state_dir << "/token" << std::endl;
  io.run();
  std::cout << "kumod: stopped; servers keep running" << std::endl;
  return 0;
}
