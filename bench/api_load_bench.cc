// api_load_bench: kumod's API under load, against N servers on its own
// kumod --driver fake (bench/fake_kumod.h). First C client threads send
// requests for S seconds, each on a new loopback connection, alternating
// GET /v1/servers and GET /v1/servers/NAME: requests/s, p50/p99, errors.
// Then a slowloris: L connections that send a request's header one byte a
// second and never finish it, while a normal client times GET /v1/servers
// every 200 ms; the figure is how much slower those requests are than the
// same requests just before (p99 of each), and how many of the slow
// connections kumod closed itself.
//
// Exit status: 0 when measured (targets reported, not enforced), 1 when a
// step failed, 2 on bad usage.
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "bench_figures.h"
#include "fake_kumod.h"
#include "support/host_probe.h"

namespace {

using kumo::bench::Clock;
using kumo::bench::json;
using kumo::bench::Seconds;

struct Options {
  std::string kumod = KUMOD_PATH;
  int servers = 100;
  int clients = 50;
  double seconds = 20;
  int slowloris = 100;
  double slowloris_s = 10;
  std::string json_path;
};

void Load(kumo::bench::FakeKumod& kumod, const Options& o, json& out) {
  std::vector<std::vector<double>> ms(static_cast<size_t>(o.clients));
  std::vector<int> errors(static_cast<size_t>(o.clients), 0);
  const auto end = Clock::now() + std::chrono::duration<double>(o.seconds);
  std::vector<std::thread> threads;
  for (int c = 0; c < o.clients; ++c) {
    threads.emplace_back([&, c] {
      for (int i = 0; Clock::now() < end; ++i) {
        std::string target =
            i % 2 ? "/v1/servers/" + kumo::bench::Name((c * 7 + i) % o.servers) : "/v1/servers";
        auto start = Clock::now();
        int status = kumod.Call("GET", target).status;
        ms[c].push_back(Seconds(start) * 1000);
        errors[c] += status != 200;
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<double> all;
  int error_count = 0;
  for (int c = 0; c < o.clients; ++c) {
    all.insert(all.end(), ms[c].begin(), ms[c].end());
    error_count += errors[c];
  }
  out["load_clients"] = o.clients;
  out["load_seconds"] = o.seconds;
  out["load_requests"] = all.size();
  out["load_per_s"] = all.size() / o.seconds;
  out["load_p50_ms"] = kumo::bench::Percentile(all, 0.5);
  out["load_p99_ms"] = kumo::bench::Percentile(all, 0.99);
  out["load_errors"] = error_count;
}

// GET /v1/servers every 200 ms for `seconds`: the latencies, in ms; counts
// the requests not answered 200 in `failures`.
std::vector<double> Probe(kumo::bench::FakeKumod& kumod, double seconds, int* failures) {
  std::vector<double> ms;
  for (auto start = Clock::now(); Seconds(start) < seconds;) {
    auto t = Clock::now();
    if (kumod.Call("GET", "/v1/servers").status == 200) {
      ms.push_back(Seconds(t) * 1000);
    } else {
      ++*failures;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return ms;
}

void Slowloris(kumo::bench::FakeKumod& kumod, const Options& o, json& out) {
  int failures = 0;
  std::vector<double> before = Probe(kumod, 3, &failures);
  std::vector<int> fds;
  for (int i = 0; i < o.slowloris; ++i) {
    int fd = kumo::testing::ConnectLoopback(kumod.port());
    if (fd >= 0) fds.push_back(fd);
  }
  std::atomic<bool> done{false};
  std::atomic<int> closed{0};
  std::thread drip([&] {
    const std::string header = "GET /v1/servers HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    std::vector<bool> open(fds.size(), true);
    for (size_t n = 0; !done; ++n) {
      for (size_t i = 0; i < fds.size(); ++i) {
        if (!open[i]) continue;
        char byte = n < header.size() ? header[n] : 'a';
        if (write(fds[i], &byte, 1) != 1) {
          open[i] = false;
          ++closed;
        }
      }
      for (int t = 0; t < 10 && !done; ++t)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  std::vector<double> during = Probe(kumod, o.slowloris_s, &failures);
  done = true;
  drip.join();
  for (int fd : fds) close(fd);
  const double base = kumo::bench::Percentile(before, 0.99);
  const double slow = kumo::bench::Percentile(during, 0.99);
  out["slowloris_connections"] = fds.size();
  out["slowloris_seconds"] = o.slowloris_s;
  out["slowloris_closed_by_kumod"] = closed.load();
  out["slowloris_base_p99_ms"] = base;
  out["slowloris_during_p99_ms"] = slow;
  out["slowloris_delay_ms"] = slow - base;
  out["slowloris_probe_failures"] = failures;
}

bool Parse(int argc, char** argv, Options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string arg = argv[i], value = argv[i + 1];
    if (arg == "--kumod") {
      o.kumod = value;
    } else if (arg == "--servers") {
      o.servers = std::atoi(value.c_str());
    } else if (arg == "--clients") {
      o.clients = std::atoi(value.c_str());
    } else if (arg == "--seconds") {
      o.seconds = std::atof(value.c_str());
    } else if (arg == "--slowloris") {
      o.slowloris = std::atoi(value.c_str());
    } else if (arg == "--slowloris-s") {
      o.slowloris_s = std::atof(value.c_str());
    } else if (arg == "--json") {
      o.json_path = value;
    } else {
      return false;
    }
  }
  return argc % 2 == 1 && o.servers > 0 && o.clients > 0 && o.seconds > 0 && o.slowloris >= 0 &&
         o.slowloris_s > 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!Parse(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: api_load_bench [--kumod PATH] [--servers N] [--clients N] [--seconds S] "
                 "[--slowloris N] [--slowloris-s S] [--json PATH]\n");
    return 2;
  }
  return kumo::bench::RunWithServers("api", o.kumod, o.servers, o.json_path,
                                     [&o](kumo::bench::FakeKumod& kumod, json& out) {
                                       Load(kumod, o, out);
                                       if (o.slowloris > 0) Slowloris(kumod, o, out);
                                       return true;
                                     });
}
