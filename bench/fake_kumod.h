// What the benchmarks that need many servers share: their own kumod
// --driver fake (docs/kumod.md, "The fake driver": no QEMU, a real kumo-agent
// per server), started from an argv on a free loopback port with a fresh
// state directory, servers s00000… created and waited for, and a teardown
// that deletes them, stops kumod by its pid and counts agents left running.
#pragma once

#include <sys/resource.h>
#include <sys/stat.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bench_figures.h"
#include "support/child_process.h"
#include "support/fake_api_server.h"
#include "support/http_client.h"

namespace kumo::bench {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;
using kumo::testing::HttpRequest;

inline double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

inline std::string Name(int i) {
  char name[16];
  std::snprintf(name, sizeof name, "s%05d", i);
  return name;
}

class FakeKumod {
 public:
  // Starts `kumod` --driver fake for about `servers` servers.
  bool Start(const std::string& kumod, int servers, std::string* err) {
    port_ = kumo::testing::UnusedPort();
    // As root, the agents run as kumod's QEMU user, which must pass through.
    chmod(dir_.path().c_str(), 0711);
    std::vector<std::string> argv = {kumod,
                                     "--driver",
                                     "fake",
                                     "--state-dir",
                                     dir_ / "state",
                                     "--listen",
                                     "127.0.0.1:" + std::to_string(port_),
                                     "--image-dir",
                                     KUMO_FAKE_IMAGE_DIR,
                                     "--ssh-port-base",
                                     "0",
                                     "--guest-isolation",
                                     "off"};
    // Each server holds 8 descriptors in kumod: the agent link, a pidfd, two
    // telemetry series, and the console FIFOs twice (kumod's broker, and the
    // fake driver standing in for QEMU). kumod raises its soft limit to the
    // hard one, which the bench raises where it may (root).
    const rlim_t needed = static_cast<rlim_t>(servers) * 8 + 1024;
    if (rlimit files{}; getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_max < needed) {
      rlimit raised{needed, needed};
      if (setrlimit(RLIMIT_NOFILE, &raised) != 0) {
        std::fprintf(stderr,
                     "warning: the open-files limit %ju may be too low for %d "
                     "servers (ulimit -Hn %ju)\n",
                     static_cast<uintmax_t>(files.rlim_max), servers,
                     static_cast<uintmax_t>(needed));
      }
    }
    if (!process_.Start(argv, dir_ / "kumod.log", err)) return false;
    for (int i = 0; i < 200; ++i) {
      if (HttpRequest(port_, "GET", "/healthz", "").status == 200) {
        token_ = kumo::testing::ReadFile(dir_ / "state/token");
        while (!token_.empty() && token_.back() == '\n') token_.pop_back();
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    *err = "kumod did not come up: " + kumo::testing::ReadFile(dir_ / "kumod.log");
    return false;
  }
  kumo::testing::HttpResult Call(const std::string& method, const std::string& target,
                                 const json& body = nullptr) {
    return HttpRequest(port_, method, target, token_, body.is_null() ? "" : body.dump());
  }
  // The list of servers; empty if kumod does not answer with one.
  json Servers() {
    json list = Call("GET", "/v1/servers").json();
    return list.is_object() ? list.value("servers", json::array()) : json::array();
  }
  pid_t pid() const { return process_.pid(); }
  int port() const { return port_; }
  const std::string& token() const { return token_; }
  void Stop() { process_.Stop(); }

 private:
  kumo::testing::TempDir dir_;
  kumo::testing::ChildProcess process_;
  int port_ = 0;
  std::string token_;
};

// Polls the list until `count` servers satisfy `pred`, or `timeout_s`.
template <typename Pred>
bool WaitServers(FakeKumod& kumod, int count, double timeout_s, double poll_s, Pred pred) {
  auto start = Clock::now();
  while (Seconds(start) < timeout_s) {
    int n = 0;
    for (const json& s : kumod.Servers()) n += pred(s);
    if (n >= count) return true;
    std::this_thread::sleep_for(std::chrono::duration<double>(poll_s));
  }
  return false;
}

// Creates servers s00000… one POST at a time and waits until all run;
// writes create_all_running_s.
inline bool CreateAll(FakeKumod& kumod, int servers, json& out) {
  auto start = Clock::now();
  for (int i = 0; i < servers; ++i) {
    auto r = kumod.Call("POST", "/v1/servers", {{"name", Name(i)}, {"image", "fake"}});
    if (r.status != 201) {
      std::fprintf(stderr, "create %s: %d %s\n", Name(i).c_str(), r.status, r.body.c_str());
      return false;
    }
  }
  // A server in error will not run: the wait ends there, saying why.
  std::string failed;
  bool ok = WaitServers(kumod, servers, 60 + servers * 0.5, 1, [&failed](const json& s) {
    if (s["status"] == "error" && failed.empty()) {
      failed = s["name"].get<std::string>() + ": " + s["status_reason"].get<std::string>();
    }
    return s["status"] == "running" || !failed.empty();
  });
  out["create_all_running_s"] = Seconds(start);
  if (!failed.empty()) std::fprintf(stderr, "not every server runs: %s\n", failed.c_str());
  return ok && failed.empty();
}

// Deletes every server, stops kumod, and counts the agents still running.
inline int TearDown(FakeKumod& kumod, const std::vector<pid_t>& agents) {
  for (const json& s : kumod.Servers()) {
    kumod.Call("DELETE", "/v1/servers/" + s["name"].get<std::string>() + "?force=true");
  }
  for (auto start = Clock::now(); Seconds(start) < 120 && !kumod.Servers().empty();) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  kumod.Stop();
  int left = 0;
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  for (pid_t pid : agents) {
    std::string stat = kumo::testing::ReadFile("/proc/" + std::to_string(pid) + "/stat");
    size_t paren = stat.rfind(')');
    left += paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
  }
  return left;
}

// A whole run: starts kumod, creates `servers` and waits until they run,
// calls `measure` (which adds its figures to the JSON and says whether it
// could measure), tears down, prints the figures and writes them to
// `json_path`. Returns the exit status: 0 measured, 1 a step failed.
inline int RunWithServers(const std::string& bench, const std::string& kumod_path, int servers,
                          const std::string& json_path,
                          const std::function<bool(FakeKumod&, json&)>& measure) {
  std::signal(SIGPIPE, SIG_IGN);
  FakeKumod kumod;
  std::string err;
  if (!kumod.Start(kumod_path, servers, &err)) {
    std::fprintf(stderr, "%s: %s\n", bench.c_str(), err.c_str());
    return 1;
  }
  json out = {{"bench", bench}, {"servers", servers}};
  bool ok = CreateAll(kumod, servers, out);
  std::vector<pid_t> agents;
  for (const json& s : kumod.Servers()) {
    if (s["qemu_pid"].is_number()) agents.push_back(s["qemu_pid"].get<pid_t>());
  }
  if (ok) {
    std::printf("%d servers running after %.1f s\n", servers,
                out["create_all_running_s"].get<double>());
    std::fflush(stdout);
    ok = measure(kumod, out);
  }
  out["agents_left_running"] = TearDown(kumod, agents);
  std::printf("%s\n", out.dump(2).c_str());
  if (!WriteFigures(json_path, out)) ok = false;
  return ok && out["agents_left_running"] == 0 ? 0 : 1;
}

}  // namespace kumo::bench
