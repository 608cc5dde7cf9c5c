// ServerObserver: keeps, for every server, the Observation the diagnosis
// rules read, and writes what it learns into the timeline. It is a listener
// of the ledger's change feed (it never grows the core):
//
//  - every health interval it asks each running guest's agent for
//    kumo-health, reads QEMU's CPU and RSS from /proc, probes the SSH
//    forward, and adds a sample to the server's series (kept on disk, so a
//    kumod restart keeps the history). The servers are looked at in
//    kLookSlices groups (by their name's hash), one group a tick: each is
//    still looked at once an interval, and the event loop never stops for
//    all of them at once (1,000 servers: about 100 a tick);
//  - it reads each running server's console output as it arrives (and, after
//    a kumod restart, the scrollback on disk) into kernel and boot facts;
//  - an OOM kill becomes an event naming its victim (the agent's spelling
//    when it answers within two intervals; the console's otherwise);
//  - a new critical finding, and a status turning warning or error, write
//    the top finding's summary into the timeline, so it says why unasked.
//
// Runs on kumod's event loop; not thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/asio.h"
#include "common/clock.h"
#include "core/server_core.h"
#include "core/server_ledger.h"
#include "diagnosis/console_reader.h"
#include "diagnosis/rules.h"
#include "telemetry/process_figures.h"
#include "telemetry/server_series.h"

namespace kumo::diagnosis {

struct ObserverConfig {
  std::string state_dir;  // series live in STATE_DIR/servers/NAME
  std::chrono::milliseconds health_interval{5000};
  std::chrono::milliseconds ssh_probe_timeout{3000};
  RuleSettings rules;  // its health_interval_ms is taken from health_interval
};

// What /metrics shows of one server beyond its Observation.
struct ServerFigures {
  uint64_t oom_kills_seen = 0;                    // OOM kills noted since kumod started
  std::optional<telemetry::ProcessFigures> qemu;  // at the last tick
};

class ServerObserver {
 public:
  // The servers are looked at in this many groups, one a tick.
  static constexpr size_t kLookSlices = 10;

  ServerObserver(boost::asio::io_context& io, Clock& clock, core::ServerLedger& ledger,
                 core::ServerCore& core, ObserverConfig config);
  ~ServerObserver();
  ServerObserver(const ServerObserver&) = delete;
  ServerObserver& operator=(const ServerObserver&) = delete;

  // Subscribes to the change feed, reads the scrollback of running servers
  // and starts the health interval. REQUIRES: after the core's Recover().
  void Start();

  // The diagnosis now. Errors: NotFound.
  Result<Diagnosis> Diagnose(const std::string& name);
  // The server's series, read from disk (whatever its state: the history
  // of a server stopped before kumod restarted is there too). Errors: NotFound.
  Result<std::vector<telemetry::Sample>> Series(const std::string& name,
                                                telemetry::Resolution resolution, int64_t from_ms,
                                                int64_t to_ms);
  // The top finding (warning or critical) of the server's last evaluation,
  // made at each health look and each change; null when there is none or
  // the server is not watched. Cheap, copying nothing: the server list shows
  // it per row. Valid until the observer next runs on the event loop.
  const Finding* TopFinding(const std::string& name) const;
  // Visits every server (ordered by name) with its observation and figures.
  void ForEach(
      const std::function<void(const Observation&, const ServerFigures&, const Diagnosis&)>& visit);

 private:
  struct Watched;
  Watched& WatchedOf(const ServerRecord& r);
  void OnChange(const core::ServerChange& change);
  void NewQemu(Watched& w, const ServerRecord& r);
  void FollowConsole(Watched& w);
  void ReplayScrollback(Watched& w);
  void OnFact(Watched& w, const TimedFact& fact);
  // Looks at the servers of one slice (every server when nullopt).
  void Look(std::optional<size_t> slice);
  // Looks at the next slice and schedules the tick after.
  void Tick();
  void Observe(Watched& w);
  void AskHealth(Watched& w, int64_t now, std::optional<double> cpu, std::optional<uint64_t> rss);
  void OnHealth(const std::string& name, Result<nlohmann::json> reply, int64_t asked_ms,
                std::optional<double> cpu, std::optional<uint64_t> rss);
  void AddSample(Watched& w, const telemetry::Sample& s);
  // Opens the series files on first use; null if they cannot be opened.
  telemetry::ServerSeries* SeriesOf(Watched& w);
  void Probe(Watched& w);
  // Writes this boot's OOM kills not written yet. A kill only the console
  // saw waits (two intervals at most) for the agent's spelling of the victim,
  // unless a kumo-health asked after it (at `health_asked_ms`) came back
  // without it.
  void NoteOomKills(Watched& w, int64_t health_asked_ms = 0);
  // Writes new critical findings (and on `status_changed`, the top one).
  void Evaluate(Watched& w, bool status_changed);

  boost::asio::io_context& io_;
  Clock& clock_;
  core::ServerLedger& ledger_;
  core::ServerCore& core_;
  ObserverConfig config_;
  std::map<std::string, std::unique_ptr<Watched>> watched_;
  core::ServerLedger::Subscription subscription_;
  std::unique_ptr<Alarm> tick_;
  size_t next_slice_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace kumo::diagnosis
