// The watch-stream fan-out of scale_bench: W clients on GET /v1/watch (raw
// loopback sockets, read with poll), then a few changes of one server (force
// stop, start, …); for each change and each client, the time from the
// request that caused it to the first message naming that server.
#pragma once

#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench_figures.h"
#include "support/host_probe.h"
#include "support/http_client.h"

namespace kumo::bench {

// Reads whatever each client has until `quiet_ms` pass without a byte, or
// `max_ms` in all (the feed never quiets with many servers: agent_last_seen);
// returns false if one of them closed.
inline bool Drain(const std::vector<int>& fds, int quiet_ms, int max_ms) {
  std::vector<pollfd> p;
  for (int fd : fds) p.push_back({fd, POLLIN, 0});
  char buf[65536];
  for (auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(max_ms);
       std::chrono::steady_clock::now() < end;) {
    if (poll(p.data(), p.size(), quiet_ms) <= 0) return true;
    for (auto& q : p) {
      if ((q.revents & (POLLIN | POLLHUP)) && read(q.fd, buf, sizeof buf) <= 0) return false;
    }
  }
  return true;
}

// Per client, ms until a message naming `server` arrived (-1: not within 10 s).
inline std::vector<double> Arrivals(const std::vector<int>& fds, const std::string& server,
                                    std::chrono::steady_clock::time_point start) {
  const std::string needle = "\"server\":\"" + server + "\"";
  std::vector<double> ms(fds.size(), -1);
  std::vector<std::string> seen(fds.size());
  size_t waiting = fds.size();
  char buf[65536];
  while (waiting > 0 && std::chrono::steady_clock::now() - start < std::chrono::seconds(10)) {
    std::vector<pollfd> p;
    std::vector<size_t> index;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (ms[i] >= 0) continue;
      p.push_back({fds[i], POLLIN, 0});
      index.push_back(i);
    }
    if (poll(p.data(), p.size(), 100) <= 0) continue;
    auto now = std::chrono::steady_clock::now();
    for (size_t k = 0; k < p.size(); ++k) {
      if (!(p[k].revents & (POLLIN | POLLHUP))) continue;
      const size_t i = index[k];
      ssize_t n = read(p[k].fd, buf, sizeof buf);
      if (n <= 0) return ms;
      seen[i].append(buf, static_cast<size_t>(n));
      if (seen[i].find(needle) != std::string::npos) {
        ms[i] = std::chrono::duration<double, std::milli>(now - start).count();
        --waiting;
      }
    }
  }
  return ms;
}

// Opens `watchers` watch streams, changes `server` four times (force stop,
// start, force stop, start) and writes fanout_p50_ms, fanout_p99_ms,
// fanout_missed and fanout_clients to `out`. False if a stream failed.
inline bool MeasureFanOut(int port, const std::string& token, int watchers,
                          const std::string& server, nlohmann::json& out) {
  std::vector<int> fds;
  const std::string request =
      "GET /v1/watch HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token +
      "\r\nAccept: text/event-stream\r\n\r\n";
  bool ok = true;
  for (int i = 0; i < watchers && ok; ++i) {
    int fd = kumo::testing::ConnectLoopback(port);
    ok = fd >= 0 &&
         write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size());
    if (fd >= 0) fds.push_back(fd);
  }
  ok = ok && Drain(fds, 1000, 5000);
  std::vector<double> all;
  int missed = 0;
  const char* actions[] = {"stop", "start", "stop", "start"};
  for (const char* action : actions) {
    if (!ok) break;
    nlohmann::json body = {{"action", action}};
    if (std::string(action) == "stop") body["force"] = true;
    auto start = std::chrono::steady_clock::now();
    auto r = kumo::testing::HttpRequest(port, "POST", "/v1/servers/" + server + "/actions", token,
                                        body.dump());
    if (r.status != 202) {
      std::fprintf(stderr, "scale_bench: %s %s: %d %s\n", action, server.c_str(), r.status,
                   r.body.c_str());
      ok = false;
      break;
    }
    for (double ms : Arrivals(fds, server, start)) {
      if (ms < 0)
        ++missed;
      else
        all.push_back(ms);
    }
    ok = Drain(fds, 1000, 3000);  // the rest of the change (a start: pending, then running)
  }
  for (int fd : fds) close(fd);
  out["fanout_clients"] = watchers;
  out["fanout_p50_ms"] = Percentile(all, 0.5);
  out["fanout_p99_ms"] = Percentile(all, 0.99);
  out["fanout_missed"] = missed;
  return ok && missed == 0;
}

}  // namespace kumo::bench
