// scale_bench: N servers on one kumod (`--driver fake`: no QEMU, each server
// a real kumo-agent process on the host, answering the 1 s heartbeat and the
// 5 s health poll). Starts its own kumod (an argv, a fresh state directory, a
// loopback port), creates the servers, waits until all run, then measures:
// kumod's CPU (% of one core) and RSS at steady state; GET /v1/servers
// p50/p99; the fan-out of one change to W watch-stream clients; the time
// until F agents stopped at once (SIGSTOP, by pid) are all flagged
// `warning`; the time to read the diagnosis of every server. At the end it
// resumes the agents, deletes every server, stops kumod by its pid and
// checks that no agent it started still runs.
//
// Exit status: 0 when measured (targets are reported, not enforced), 1 when
// a step failed (kumod did not start, servers did not run), 2 on bad usage.
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "bench_figures.h"
#include "fake_kumod.h"
#include "scale_watchers.h"
#include "support/child_process.h"
#include "support/fake_api_server.h"
#include "support/host_probe.h"
#include "support/http_client.h"

namespace {

using kumo::bench::Clock;
using kumo::bench::json;
using kumo::bench::Name;
using kumo::bench::Seconds;
using kumo::bench::WaitServers;

struct Options {
  std::string kumod = KUMOD_PATH;
  int servers = 1000;
  double steady_s = 30;
  int list_requests = 200;
  int watchers = 50;
  int flag = 100;
  std::string json_path;
};

void Steady(kumo::bench::FakeKumod& kumod, const Options& o, json& out) {
  std::this_thread::sleep_for(std::chrono::seconds(5));  // past the creates' own work
  const double cpu = kumo::testing::CpuSeconds(kumod.pid());
  std::this_thread::sleep_for(std::chrono::duration<double>(o.steady_s));
  out["cpu_percent"] = (kumo::testing::CpuSeconds(kumod.pid()) - cpu) / o.steady_s * 100;
  out["rss_mib"] = kumo::bench::StatusKib(kumod.pid(), "VmRSS") / 1024.0;
  out["hwm_mib"] = kumo::bench::StatusKib(kumod.pid(), "VmHWM") / 1024.0;
  out["steady_s"] = o.steady_s;
}

void List(kumo::bench::FakeKumod& kumod, const Options& o, json& out) {
  std::vector<double> ms;
  for (int i = 0; i < o.list_requests; ++i) {
    auto start = Clock::now();
    auto r = kumod.Call("GET", "/v1/servers");
    if (r.status == 200) ms.push_back(Seconds(start) * 1000);
  }
  out["list_p50_ms"] = kumo::bench::Percentile(ms, 0.5);
  out["list_p99_ms"] = kumo::bench::Percentile(ms, 0.99);
  out["list_errors"] = o.list_requests - static_cast<int>(ms.size());
}

// Stops `o.flag` agents at once and times until all their servers show warning.
bool Flag(kumo::bench::FakeKumod& kumod, const Options& o, std::vector<pid_t>& stopped, json& out) {
  std::vector<std::string> names;
  for (const json& s : kumod.Servers()) {
    if (static_cast<int>(names.size()) == o.flag) break;
    if (s["status"] != "running" || !s["qemu_pid"].is_number()) continue;
    names.push_back(s["name"]);
    stopped.push_back(s["qemu_pid"].get<pid_t>());
  }
  auto start = Clock::now();
  for (pid_t pid : stopped) kill(pid, SIGSTOP);
  auto flagged = [&names](const json& s) {
    return s["status"] == "warning" &&
           std::find(names.begin(), names.end(), s["name"]) != names.end();
  };
  bool ok = WaitServers(kumod, static_cast<int>(names.size()), 30, 0.05, flagged);
  out["flag_s"] = Seconds(start);
  out["flag_agents"] = names.size();
  for (pid_t pid : stopped) kill(pid, SIGCONT);
  return ok;
}

void Diagnose(kumo::bench::FakeKumod& kumod, const Options& o, json& out) {
  auto start = Clock::now();
  int errors = 0;
  for (int i = 0; i < o.servers; ++i) {
    errors += kumod.Call("GET", "/v1/servers/" + Name(i) + "/diagnosis").status != 200;
  }
  out["diagnose_s"] = Seconds(start);
  out["diagnose_errors"] = errors;
}

bool Parse(int argc, char** argv, Options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string arg = argv[i], value = argv[i + 1];
    if (arg == "--kumod")
      o.kumod = value;
    else if (arg == "--servers")
      o.servers = std::atoi(value.c_str());
    else if (arg == "--steady-s")
      o.steady_s = std::atof(value.c_str());
    else if (arg == "--list-requests")
      o.list_requests = std::atoi(value.c_str());
    else if (arg == "--watchers")
      o.watchers = std::atoi(value.c_str());
    else if (arg == "--flag")
      o.flag = std::atoi(value.c_str());
    else if (arg == "--json")
      o.json_path = value;
    else
      return false;
  }
  return argc % 2 == 1 && o.servers > 0 && o.steady_s > 0 && o.list_requests > 0 &&
         o.watchers >= 0 && o.flag >= 0 && o.flag <= o.servers;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!Parse(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: scale_bench [--kumod PATH] [--servers N] [--steady-s S] "
                 "[--list-requests N] [--watchers N] [--flag N] [--json PATH]\n");
    return 2;
  }
  return kumo::bench::RunWithServers(
      "scale", o.kumod, o.servers, o.json_path, [&o](kumo::bench::FakeKumod& kumod, json& out) {
        Steady(kumod, o, out);
        List(kumod, o, out);
        bool ok = true;
        if (o.watchers > 0) {
          ok = kumo::bench::MeasureFanOut(kumod.port(), kumod.token(), o.watchers,
                                          Name(o.servers - 1), out);
        }
        std::vector<pid_t> stopped;
        if (ok && o.flag > 0) ok = Flag(kumod, o, stopped, out);
        Diagnose(kumod, o, out);
        return ok;
      });
}
