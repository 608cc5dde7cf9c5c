// guest_bench: issue 13's parts 2 and 3 with real guests: kumod (its own
// state directory and port, the real QEMU driver, TCG unless
// KUMO_TEST_ACCEL=kvm) runs the project's guest image, and every figure is
// what a user or the watch stream would see.
//
//   2. Detection: the guest agent frozen (SIGSTOP in the guest) → the watch
//      stream says `warning`; an OOM kill's kernel line on the console → the
//      `oom_kill` finding in GET .../diagnosis.
//   3. Operations: a graceful stop while the agent is frozen → its 409 error;
//      a force stop → the watch stream says `stopped` (the ledger's commit);
//      start → `running` against a bare QEMU boot of a copy of the server's
//      disk (kumod's own command line with the server's seed disk, run by
//      this program) to the agent's first answer; and the same boot without
//      the seed disk.
//
//   guest_bench [--trials N] [--boots M] [--json FILE]
//
// Moments in the guest are known to the host within a few tens of ms: a
// freeze is scheduled one second after an exec returns; a console line is
// seen by polling console.log every 100 ms (GuestFaults). Every QEMU and the
// kumod it starts are stopped by their pids; traffic stays on loopback.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "bench_figures.h"
#include "e2e/guest_faults.h"
#include "e2e/guest_vm.h"
#include "e2e/kumod_harness.h"
#include "guestlink/qga_client.h"
#include "support/sse_client.h"

namespace kumo::bench {
namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;
using kumo::testing::KumodHarness;
using kumo::testing::SseClient;
using kumo::testing::SseEvent;
using std::chrono::milliseconds;

constexpr double kBootTimeoutS = 300;  // TCG on a loaded host

double MsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// The first watch message after `after` saying `name` has `status`.
std::optional<Clock::time_point> WatchSays(const SseClient& watch, const std::string& name,
                                           const std::string& status, Clock::time_point after,
                                           milliseconds timeout) {
  std::optional<Clock::time_point> at;
  watch.WaitFor(
      [&](const std::vector<SseEvent>& events) {
        for (const SseEvent& e : events) {
          if (e.at < after || e.event != "server") continue;
          json d = e.json();
          if (d.is_object() && d.value("server", "") == name && d.value("status", "") == status) {
            at = e.at;
            return true;
          }
        }
        return false;
      },
      timeout);
  return at;
}

// A bare QEMU boot of the image with kumod's command line, to the agent's
// first answer on its socket (ms), or -1. It boots a copy of `disk` (the
// server's own, while kumod has it stopped: the same instance, past its
// first boot); with `seed_iso`, the server's seed disk is attached as kumod
// attaches it, and the guest's init applies it before it starts the agent.
double BareBootMs(const std::string& disk, const std::string& seed_iso) {
  kumo::testing::GuestVm vm;
  std::string err;
  if (!vm.UseDisk(disk, &err)) {
    std::fprintf(stderr, "bare boot: %s\n", err.c_str());
    return -1;
  }
  auto started = Clock::now();
  if (!vm.Start(1, seed_iso, &err)) {
    std::fprintf(stderr, "bare boot: %s\n", err.c_str());
    return -1;
  }
  // The sync is sent again every 100 ms: one written before the guest opens
  // its port is lost.
  const auto deadline = started + std::chrono::seconds(static_cast<int>(kBootTimeoutS));
  kumo::guestlink::QgaClient agent;
  if (!agent.Connect(vm.agent_socket(), deadline, &err) ||
      !agent.Sync(deadline, milliseconds(100))) {
    std::fprintf(stderr, "bare boot: the agent never answered %s\n", err.c_str());
    return -1;
  }
  return MsBetween(started, Clock::now());
}

struct Sample {
  std::vector<double> ms;
  void Add(double v) { ms.push_back(v); }
  json Figures() const {
    return {{"n", ms.size()},
            {"p50_ms", Percentile(ms, 0.5)},
            {"p99_ms", Percentile(ms, 0.99)},
            {"max_ms", ms.empty() ? 0 : *std::max_element(ms.begin(), ms.end())}};
  }
};

void Print(const char* what, const Sample& s) {
  std::printf("%-52s n=%-3zu p50 %9.1f ms   p99 %9.1f ms\n", what, s.ms.size(),
              Percentile(s.ms, 0.5), Percentile(s.ms, 0.99));
  std::fflush(stdout);
}

int Run(int trials, int boots, const std::string& json_path) {
  KumodHarness kumod;
  std::string err;
  if (!kumod.Start(&err)) {
    std::fprintf(stderr, "kumod: %s\n", err.c_str());
    return 1;
  }
  SseClient watch;
  if (!watch.Open(kumod.port(), "/v1/watch", kumod.token())) {
    std::fprintf(stderr, "cannot open the watch stream\n");
    return 1;
  }
  const std::string name = "bench";
  auto created = Clock::now();
  auto create = kumod.Call("POST", "/v1/servers", {{"name", name}});
  if (create.status != 202 && create.status != 201) {
    std::fprintf(stderr, "create: %d %s\n", create.status, create.body.c_str());
    return 1;
  }
  Sample start_to_running, force_stop, bare_boot, bare_boot_without_seed;
  auto first = WatchSays(watch, name, "running", created, milliseconds(300 * 1000));
  if (!first) {
    std::fprintf(stderr, "the server never ran: %s\n", kumod.Server(name).dump().c_str());
    return 1;
  }
  std::printf("create → running: %.1f ms (first boot)\n", MsBetween(created, *first));

  // 3. Force stop, then start → running, `boots` times; the bare boots
  // between the two.
  const std::string disk = kumod.state_dir() + "/servers/" + name + "/disk.qcow2";
  const std::string seed = kumod.state_dir() + "/servers/" + name + "/seed.iso";
  for (int i = 0; i < boots; ++i) {
    auto asked = Clock::now();
    auto stop = kumod.Call("POST", "/v1/servers/" + name + "/actions",
                           {{"action", "stop"}, {"force", true}});
    auto stopped = WatchSays(watch, name, "stopped", asked, milliseconds(30 * 1000));
    if (stop.status != 202 || !stopped) {
      std::fprintf(stderr, "force stop: %d %s\n", stop.status, stop.body.c_str());
      return 1;
    }
    force_stop.Add(MsBetween(asked, *stopped));
    // The references, while the server is stopped: its disk booted bare with
    // kumod's command line, with the seed disk and without.
    double ms = BareBootMs(disk, std::filesystem::exists(seed) ? seed : "");
    if (ms < 0) return 1;
    bare_boot.Add(ms);
    ms = BareBootMs(disk, "");
    if (ms < 0) return 1;
    bare_boot_without_seed.Add(ms);
    asked = Clock::now();
    auto start = kumod.Call("POST", "/v1/servers/" + name + "/actions", {{"action", "start"}});
    auto running = WatchSays(watch, name, "running", asked, milliseconds(300 * 1000));
    if (start.status != 202 || !running) {
      std::fprintf(stderr, "start: %d %s\n", start.status, start.body.c_str());
      return 1;
    }
    start_to_running.Add(MsBetween(asked, *running));
  }
  Print("force stop → watch says stopped", force_stop);
  Print("start → watch says running (kumod)", start_to_running);
  Print("bare QEMU boot → agent's first answer", bare_boot);
  Print("bare QEMU boot without the seed disk", bare_boot_without_seed);

  // 2 and 3. The agent frozen `trials` times: warning on the watch, and a
  // graceful stop refused meanwhile.
  Sample frozen_to_warning, refused_stop;
  for (int i = 0; i < trials; ++i) {
    auto exec = kumod.Exec(name, {"/bin/sh", "-c",
                                  "(sleep 1; kill -STOP $PPID; sleep 6; kill -CONT $PPID) "
                                  ">/dev/null 2>&1 &"});
    auto frozen_at = Clock::now() + std::chrono::seconds(1);
    if (exec.status != 200) {
      std::fprintf(stderr, "exec: %d %s\n", exec.status, exec.body.c_str());
      return 1;
    }
    auto warning = WatchSays(watch, name, "warning", frozen_at, milliseconds(20 * 1000));
    if (!warning) {
      std::fprintf(stderr, "no warning after a freeze: %s\n", kumod.Server(name).dump().c_str());
      return 1;
    }
    frozen_to_warning.Add(MsBetween(frozen_at, *warning));
    for (int k = 0; k < 3; ++k) {
      auto asked = Clock::now();
      auto stop = kumod.Call("POST", "/v1/servers/" + name + "/actions", {{"action", "stop"}});
      auto answered = Clock::now();
      if (stop.status != 409) {
        std::fprintf(stderr, "graceful stop while frozen: %d %s\n", stop.status, stop.body.c_str());
        return 1;
      }
      refused_stop.Add(MsBetween(asked, answered));
    }
    if (!WatchSays(watch, name, "running", *warning, milliseconds(30 * 1000))) {
      std::fprintf(stderr, "the agent did not come back\n");
      return 1;
    }
  }
  Print("agent frozen → watch says warning", frozen_to_warning);
  Print("graceful stop while frozen → 409", refused_stop);

  // 2. OOM kills: the kernel's line on the console → a new oom_kill finding.
  Sample line_to_finding;
  kumo::testing::GuestFaults faults(&kumod, name);
  std::string last_summary;
  for (int i = 0; i < trials; ++i) {
    faults.MarkConsole();
    auto leak = faults.SlowLeak(64);
    if (!leak.ok) {
      std::fprintf(stderr, "leak: %s\n", leak.error.c_str());
      return 1;
    }
    std::string line;
    int64_t line_ms = faults.WaitForConsole(kumo::testing::kOomLines, 120, &line);
    if (line_ms == 0) {
      std::fprintf(stderr, "no OOM kill on the console\n");
      return 1;
    }
    int64_t found_ms = 0;
    while (kumo::testing::WallMs() < line_ms + 60 * 1000) {
      auto d = kumod.Call("GET", "/v1/servers/" + name + "/diagnosis");
      json diagnosis = d.json();
      for (const json& f : diagnosis.value("findings", json::array())) {
        if (f.value("code", "") == "oom_kill" && f.value("summary", "") != last_summary) {
          last_summary = f.value("summary", "");
          found_ms = kumo::testing::WallMs();
        }
      }
      if (found_ms) break;
      std::this_thread::sleep_for(milliseconds(50));
    }
    if (!found_ms) {
      std::fprintf(stderr, "no new oom_kill finding after: %s\n", line.c_str());
      return 1;
    }
    line_to_finding.Add(static_cast<double>(found_ms - line_ms));
    // The agent must answer again before the next leak (exec needs it).
    if (!WatchSays(watch, name, "running", Clock::now() - std::chrono::seconds(60),
                   milliseconds(60 * 1000))) {
      std::fprintf(stderr, "not running after the OOM kill\n");
      return 1;
    }
  }
  Print("OOM kill's console line → oom_kill finding", line_to_finding);

  double ratio = Percentile(bare_boot.ms, 0.5) > 0
                     ? Percentile(start_to_running.ms, 0.5) / Percentile(bare_boot.ms, 0.5)
                     : 0;
  std::printf("kumod's overhead on a boot (median start → running / median bare boot): %.3f\n",
              ratio);
  json figures = {{"bench", "guest"},
                  {"detection",
                   {{"agent_frozen_to_warning", frozen_to_warning.Figures()},
                    {"oom_line_to_finding", line_to_finding.Figures()}}},
                  {"operations",
                   {{"graceful_stop_refused", refused_stop.Figures()},
                    {"force_stop_to_stopped", force_stop.Figures()},
                    {"start_to_running", start_to_running.Figures()},
                    {"bare_boot_to_agent", bare_boot.Figures()},
                    {"bare_boot_without_seed", bare_boot_without_seed.Figures()},
                    {"boot_overhead_ratio", ratio}}}};
  kumod.Call("DELETE", "/v1/servers/" + name + "?force=true");
  return WriteFigures(json_path, figures) ? 0 : 1;
}

}  // namespace
}  // namespace kumo::bench

int main(int argc, char** argv) {
  int trials = 10, boots = 5;
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--trials" && i + 1 < argc) {
      trials = std::atoi(argv[++i]);
    } else if (arg == "--boots" && i + 1 < argc) {
      boots = std::atoi(argv[++i]);
    } else if (arg == "--json" && i + 1 < argc) {
      json_path = argv[++i];
    } else {
      std::fprintf(stderr, "usage: guest_bench [--trials N] [--boots M] [--json FILE]\n");
      return 2;
    }
  }
  return kumo::bench::Run(trials, boots, json_path);
}
