#include "diagnosis/server_observer.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>

#include "diagnosis/ssh_probe.h"
#include "telemetry/guest_health.h"

namespace kumo::diagnosis {

struct ServerObserver::Watched {
  Observation obs;
  ConsoleReader reader;
  std::weak_ptr<console::ConsoleBroker> broker;
  console::ConsoleBroker::SubscriptionId subscription = console::ConsoleBroker::kNoSubscription;
  int64_t qemu_pid = 0;  // the QEMU whose console and figures these are
  std::unique_ptr<telemetry::ServerSeries> series;
  bool series_tried = false;
  ServerFigures figures;
  int64_t figures_ms = 0;
  bool health_in_flight = false;
  bool probe_in_flight = false;
  int64_t next_health_ms = 0;  // a stock agent is asked again only now and then
  // OOM kills of this boot: written to the timeline, or waiting (until the
  // deadline) for the agent's spelling of the victim.
  std::set<int64_t> oom_noted;
  std::map<int64_t, int64_t> oom_pending;
  std::unique_ptr<Alarm> oom_deadline;  // at the first pending deadline
  int64_t oom_deadline_ms = 0;
  std::set<std::string> critical_noted;  // codes written this boot
  std::optional<Finding> top;            // of the last Evaluate, warning or critical
  int64_t boot_seen = -1;                // obs.boot_ms the sets above are for

  void StopFollowing() {
    if (auto b = broker.lock()) b->Unsubscribe(subscription);
    broker.reset();
    subscription = console::ConsoleBroker::kNoSubscription;
  }
  void SyncBoot() {
    if (boot_seen == obs.boot_ms) return;
    boot_seen = obs.boot_ms;
    oom_noted.clear();
    oom_pending.clear();
    oom_deadline.reset();
    oom_deadline_ms = 0;
    critical_noted.clear();
  }
};

namespace {
constexpr int64_t kStockAgentRetryMs = 60000;
constexpr size_t kScrollbackLines = 2000;

bool IsStockAgentRefusal(const Status& s) {
  return s.message().find("CommandNotFound") != std::string::npos;
}

int64_t FileMtimeMs(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return 0;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
}
}  // namespace

ServerObserver::ServerObserver(boost::asio::io_context& io, Clock& clock,
                               core::ServerLedger& ledger, core::ServerCore& core,
                               ObserverConfig config)
    : io_(io), clock_(clock), ledger_(ledger), core_(core), config_(std::move(config)) {
  config_.rules.health_interval_ms = config_.health_interval.count();
}

ServerObserver::~ServerObserver() {
  for (auto& [_, w] : watched_) {
    w->StopFollowing();
    if (w->series) w->series->Flush();
  }
}

ServerObserver::Watched& ServerObserver::WatchedOf(const ServerRecord& r) {
  auto& w = watched_[r.name];
  if (!w) {
    w = std::make_unique<Watched>();
    w->obs.server = r;
    w->obs.settings = config_.rules;
  }
  return *w;
}

void ServerObserver::Start() {
  subscription_ = ledger_.Subscribe([this](const core::ServerChange& c) { OnChange(c); });
  for (const ServerRecord& r : ledger_.List()) {
    Watched& w = WatchedOf(r);
    if (r.power == Power::kOff || r.qemu_pid == 0) continue;
    w.qemu_pid = r.qemu_pid;
    ReplayScrollback(w);
    FollowConsole(w);
  }
  Look(std::nullopt);
  Tick();
}

void ServerObserver::ReplayScrollback(Watched& w) {
  const ServerRecord& r = w.obs.server;
  auto log = core_.ConsoleLog(r.name, kScrollbackLines);
  int64_t seen_ms = FileMtimeMs(r.run_dir + "/console.log");
  if (!seen_ms) seen_ms = clock_.NowMs();
  if (log.ok()) {
    w.reader.Feed(*log, seen_ms, w.obs, nullptr);
  }
  // The boot began before the agent first answered; when that was is lost.
  if (r.agent_last_seen_ms > 0) {
    w.obs.boot_ms =
        w.obs.boot_ms ? std::min(w.obs.boot_ms, r.agent_last_seen_ms) : r.agent_last_seen_ms;
  } else if (!w.obs.boot_ms) {
    w.obs.boot_ms = r.task_started_ms ? r.task_started_ms : clock_.NowMs();
  }
  w.SyncBoot();
  // The kills the previous kumod wrote down are not written twice; the ones
  // it had not written yet (it died waiting for the agent's spelling, or the
  // kernel printed them while no kumod ran) are noted as usual. Only this
  // QEMU's notes count: a small guest's daemons get the same pids every boot.
  const std::string started = "QEMU started (pid " + std::to_string(r.qemu_pid) + ")";
  auto events = ledger_.EventsBefore(r.name, INT64_MAX, 100);
  for (auto e = events.rbegin(); e != events.rend(); ++e) {
    if (e->kind == "qemu" && e->message == started) break;
    if (e->kind != "oom") continue;
    if (auto at = e->message.find("(pid "); at != std::string::npos) {
      w.oom_noted.insert(std::atoll(e->message.c_str() + at + 5));
    }
  }
}

void ServerObserver::OnChange(const core::ServerChange& change) {
  if (change.deleted) {
    if (auto it = watched_.find(change.server.name); it != watched_.end()) {
      it->second->StopFollowing();
      watched_.erase(it);
    }
    return;
  }
  const ServerRecord& r = change.server;
  Watched& w = WatchedOf(r);
  ServerStatus before = w.obs.server.status;
  w.obs.server = r;
  if (r.qemu_pid != 0 && r.qemu_pid != w.qemu_pid) NewQemu(w, r);
  if (r.power != Power::kOff && r.qemu_pid != 0) FollowConsole(w);
  bool turned_bad = before != r.status &&
                    (r.status == ServerStatus::kWarning || r.status == ServerStatus::kError);
  Evaluate(w, turned_bad);
}

void ServerObserver::NewQemu(Watched& w, const ServerRecord& r) {
  w.StopFollowing();
  w.reader.Reset();
  w.qemu_pid = r.qemu_pid;
  w.obs.console.clear();
  w.obs.console_tail.clear();
  w.obs.console_partial.clear();
  w.obs.health.reset();
  // An image with another agent than kumo-agent is never asked for kumo-health.
  w.obs.image_agent_kind = core_.AgentKindOf(r);
  w.obs.stock_agent = w.obs.image_agent_kind != "kumo-agent";
  w.obs.ssh = SshProbe{};
  w.obs.boot_ms = clock_.NowMs();
  w.figures.qemu.reset();
  w.next_health_ms = 0;
  w.SyncBoot();
}

void ServerObserver::FollowConsole(Watched& w) {
  if (!w.broker.expired() && w.subscription != console::ConsoleBroker::kNoSubscription) return;
  auto broker = core_.Console(w.obs.server.name);
  if (!broker.ok()) return;
  std::string name = w.obs.server.name;
  auto alive = std::weak_ptr<bool>(alive_);
  w.subscription = (*broker)->Subscribe(
      [this, alive, name](std::string_view bytes) {
        if (alive.expired()) return;
        auto it = watched_.find(name);
        if (it == watched_.end()) return;
        Watched& ww = *it->second;
        ww.reader.Feed(bytes, clock_.NowMs(), ww.obs,
                       [this, &ww](const TimedFact& f) { OnFact(ww, f); });
        ww.obs.console_partial = std::string(ww.reader.partial());
      },
      [this, alive, name] {
        if (alive.expired()) return;
        if (auto it = watched_.find(name); it != watched_.end()) {
          it->second->subscription = console::ConsoleBroker::kNoSubscription;
        }
      });
  w.broker = *broker;
}

void ServerObserver::OnFact(Watched& w, const TimedFact& fact) {
  w.SyncBoot();
  switch (fact.fact.kind) {
    case ConsoleFactKind::kOomKill:
      NoteOomKills(w);
      break;
    case ConsoleFactKind::kKernelPanic:
    case ConsoleFactKind::kFsckFailed:
    case ConsoleFactKind::kFsError:
    case ConsoleFactKind::kEmergencyMode:
      Evaluate(w, false);
      break;
    default:
      break;
  }
}

void ServerObserver::Tick() {
  tick_ = clock_.After(config_.health_interval / kLookSlices,
                       [this, alive = std::weak_ptr<bool>(alive_)] {
                         if (alive.expired()) return;
                         Look(next_slice_);
                         next_slice_ = (next_slice_ + 1) % kLookSlices;
                         Tick();
                       });
}

void ServerObserver::Look(std::optional<size_t> slice) {
  std::vector<std::string> names;
  ledger_.ForEach([&](const ServerRecord& r) {
    if (!slice || std::hash<std::string>{}(r.name) % kLookSlices == *slice) {
      names.push_back(r.name);
    }
  });
  for (const auto& name : names) {
    auto r = ledger_.Get(name);
    if (!r.ok()) continue;
    Watched& w = WatchedOf(*r);
    w.obs.server = *r;
    if (r->power == Power::kRunning && r->qemu_pid != 0) {
      if (r->qemu_pid != w.qemu_pid) NewQemu(w, *r);
      FollowConsole(w);
      Observe(w);
    }
    NoteOomKills(w);
    Evaluate(w, false);
  }
}

void ServerObserver::Observe(Watched& w) {
  const ServerRecord& r = w.obs.server;
  int64_t now = clock_.NowMs();
  std::optional<double> cpu;
  std::optional<uint64_t> rss;
  if (auto figures = telemetry::ReadProcessFigures(r.qemu_pid)) {
    if (w.figures.qemu && now > w.figures_ms) {
      double used = figures->cpu_seconds - w.figures.qemu->cpu_seconds;
      cpu = std::max(0.0, used * 100000.0 / static_cast<double>(now - w.figures_ms));
    }
    rss = figures->rss_bytes;
    w.figures.qemu = figures;
    w.figures_ms = now;
  }
  auto agent = core_.AgentOf(r.name);
  // kumod may have found kumo-agent answering in an image said to run another
  // agent (installed by its user): from then on it is asked too.
  if (agent && r.agent == AgentState::kOk && w.obs.image_agent_kind != "kumo-agent" &&
      core_.AgentKindOf(r) == "kumo-agent") {
    w.obs.image_agent_kind = "kumo-agent";
    w.obs.stock_agent = false;
    w.next_health_ms = 0;
  }
  if (agent && r.agent == AgentState::kOk && !w.health_in_flight && now >= w.next_health_ms &&
      (w.obs.image_agent_kind.empty() || w.obs.image_agent_kind == "kumo-agent")) {
    w.health_in_flight = true;
    std::string name = r.name;
    agent->Health([this, alive = std::weak_ptr<bool>(alive_), name, now, cpu,
                   rss](Result<nlohmann::json> reply) {
      if (!alive.expired()) OnHealth(name, std::move(reply), now, cpu, rss);
    });
  } else {
    AddSample(w, telemetry::SampleOf(now, nullptr, cpu, rss));
  }
  if (r.ssh_port > 0 && r.boot_mode == BootMode::kNormal && !w.probe_in_flight) Probe(w);
}

void ServerObserver::OnHealth(const std::string& name, Result<nlohmann::json> reply,
                              int64_t asked_ms, std::optional<double> cpu,
                              std::optional<uint64_t> rss) {
  auto it = watched_.find(name);
  if (it == watched_.end()) return;
  Watched& w = *it->second;
  w.health_in_flight = false;
  int64_t now = clock_.NowMs();
  std::optional<telemetry::GuestHealth> health;
  if (reply.ok()) {
    auto parsed = telemetry::ParseGuestHealth(*reply);
    if (parsed.ok()) health = std::move(*parsed);
  } else if (IsStockAgentRefusal(reply.status())) {
    w.obs.stock_agent = true;
    w.next_health_ms = now + kStockAgentRetryMs;
  }
  if (health) {
    w.obs.health = std::move(health);
    w.obs.health_ms = now;
    w.obs.stock_agent = false;
  }
  AddSample(w, telemetry::SampleOf(asked_ms, health ? &*w.obs.health : nullptr, cpu, rss));
  // Only an answer describes the guest; a failed one leaves the kills waiting.
  NoteOomKills(w, health ? asked_ms : 0);
  Evaluate(w, false);
}

void ServerObserver::AddSample(Watched& w, const telemetry::Sample& s) {
  auto& samples = w.obs.samples;
  samples.push_back(s);
  while (!samples.empty() && samples.front().time_ms < s.time_ms - Observation::kMaxSampleAgeMs) {
    samples.pop_front();
  }
  if (auto* series = SeriesOf(w)) series->Add(s);
}

telemetry::ServerSeries* ServerObserver::SeriesOf(Watched& w) {
  if (!w.series && !w.series_tried) {
    w.series_tried = true;
    auto series =
        telemetry::ServerSeries::Open(config_.state_dir + "/servers/" + w.obs.server.name);
    if (series.ok()) w.series = std::move(*series);
  }
  return w.series.get();
}

void ServerObserver::Probe(Watched& w) {
  w.probe_in_flight = true;
  std::string name = w.obs.server.name;
  ProbeSsh(io_, w.obs.server.ssh_port, config_.ssh_probe_timeout,
           [this, alive = std::weak_ptr<bool>(alive_), name](SshProbeResult result) {
             if (alive.expired()) return;
             auto it = watched_.find(name);
             if (it == watched_.end()) return;
             Watched& ww = *it->second;
             ww.probe_in_flight = false;
             SshProbe& p = ww.obs.ssh;
             p.time_ms = clock_.NowMs();
             p.detail = result.detail;
             if (result.banner) {
               p.outcome = SshProbe::Outcome::kBanner;
               p.failures_in_row = 0;
               p.failing_since_ms = 0;
             } else {
               p.outcome = SshProbe::Outcome::kNoBanner;
               if (p.failures_in_row++ == 0) p.failing_since_ms = p.time_ms;
             }
           });
}

void ServerObserver::NoteOomKills(Watched& w, int64_t health_asked_ms) {
  w.SyncBoot();
  int64_t now = clock_.NowMs();
  const bool agent_can_tell = w.obs.server.agent == AgentState::kOk && !w.obs.stock_agent &&
                              w.obs.server.power == Power::kRunning;
  for (const OomVictimView& v : OomVictims(w.obs)) {
    if (w.oom_noted.count(v.pid)) continue;
    auto pending = w.oom_pending.find(v.pid);
    bool due = pending != w.oom_pending.end() && now >= pending->second;
    // An answer to a question asked before the kill cannot name its victim.
    const bool agent_told = health_asked_ms > v.time_ms;
    if (!v.from_agent && agent_can_tell && !agent_told && !due) {
      if (pending == w.oom_pending.end()) {
        w.oom_pending[v.pid] = now + 2 * config_.health_interval.count();
      }
      continue;
    }
    w.oom_pending.erase(v.pid);
    w.oom_noted.insert(v.pid);
    ++w.figures.oom_kills_seen;
    (void)ledger_.Note(w.obs.server.name, "oom",
                       "OOM killer killed " + DescribeVictim(v) + " at " + ClockTime(v.time_ms));
  }
  // A kill waits no longer than its deadline, whatever the tick's phase.
  int64_t first = INT64_MAX;
  for (const auto& [_, deadline] : w.oom_pending) first = std::min(first, deadline);
  if (first == INT64_MAX || first == w.oom_deadline_ms) return;
  w.oom_deadline_ms = first;
  w.oom_deadline =
      clock_.After(std::chrono::milliseconds(std::max<int64_t>(0, first - now)),
                   [this, alive = std::weak_ptr<bool>(alive_), name = w.obs.server.name] {
                     if (alive.expired()) return;
                     auto it = watched_.find(name);
                     if (it == watched_.end()) return;
                     it->second->oom_deadline_ms = 0;
                     NoteOomKills(*it->second);
                     Evaluate(*it->second, false);
                   });
}

void ServerObserver::Evaluate(Watched& w, bool status_changed) {
  w.SyncBoot();
  w.obs.now_ms = clock_.NowMs();
  Diagnosis d = diagnosis::Diagnose(w.obs);
  w.top.reset();
  if (!d.findings.empty() && d.findings.front().severity != Severity::kInfo) {
    w.top = d.findings.front();
  }
  bool noted = false;
  for (const Finding& f : d.findings) {
    if (f.severity != Severity::kCritical || w.critical_noted.count(f.code)) continue;
    w.critical_noted.insert(f.code);
    (void)ledger_.Note(w.obs.server.name, "diagnosis", f.summary);
    noted = true;
  }
  if (status_changed && !noted && !d.findings.empty() &&
      d.findings.front().severity != Severity::kInfo) {
    (void)ledger_.Note(w.obs.server.name, "diagnosis", d.findings.front().summary);
  }
}

const Finding* ServerObserver::TopFinding(const std::string& name) const {
  auto it = watched_.find(name);
  if (it == watched_.end() || !it->second->top) return nullptr;
  return &*it->second->top;
}

Result<Diagnosis> ServerObserver::Diagnose(const std::string& name) {
  auto r = ledger_.Get(name);
  if (!r.ok()) return r.status();
  Watched& w = WatchedOf(*r);
  w.obs.server = *r;
  w.obs.now_ms = clock_.NowMs();
  return diagnosis::Diagnose(w.obs);
}

Result<std::vector<telemetry::Sample>> ServerObserver::Series(const std::string& name,
                                                              telemetry::Resolution resolution,
                                                              int64_t from_ms, int64_t to_ms) {
  auto r = ledger_.Get(name);
  if (!r.ok()) return r.status();
  auto* series = SeriesOf(WatchedOf(*r));
  if (!series) return std::vector<telemetry::Sample>{};
  return series->Read(resolution, from_ms, to_ms);
}

void ServerObserver::ForEach(
    const std::function<void(const Observation&, const ServerFigures&, const Diagnosis&)>& visit) {
  int64_t now = clock_.NowMs();
  for (auto& [name, w] : watched_) {
    w->obs.now_ms = now;
    visit(w->obs, w->figures, diagnosis::Diagnose(w->obs));
  }
}

}  // namespace kumo::diagnosis
