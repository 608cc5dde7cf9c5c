#include "api/metrics_endpoint.h"

#include <cmath>

#include "common/disk_space.h"
#include "diagnosis/rules.h"

namespace kumo::api {
namespace {

using telemetry::Labels;
using telemetry::PrometheusText;

constexpr ServerStatus kStatuses[] = {ServerStatus::kPending, ServerStatus::kRunning,
                                      ServerStatus::kWarning, ServerStatus::kStopped,
                                      ServerStatus::kError};

struct Row {
  const diagnosis::Observation* obs;
  const diagnosis::ServerFigures* figures;
  diagnosis::Diagnosis diagnosis;
};

// One family: its header, then one sample per server that has a value.
void PerServer(PrometheusText& out, const std::vector<Row>& rows, const char* name,
               const char* type, const char* help,
               const std::function<std::optional<double>(const Row&)>& value) {
  out.Family(name, type, help);
  for (const auto& row : rows) {
    if (auto v = value(row)) out.Sample(name, {{"server", row.obs->server.name}}, *v);
  }
}

std::optional<double> Guest(const Row& row, std::optional<double> telemetry::GuestHealth::*field,
                            double scale = 1) {
  const auto& h = row.obs->health;
  if (!h || !(*h.*field)) return std::nullopt;
  return *(*h.*field) * scale;
}

void WriteServers(PrometheusText& out, const std::vector<Row>& rows) {
  out.Family("kumo_server_status", "gauge", "1 for the server's current status, 0 for the others.");
  for (const auto& row : rows) {
    for (ServerStatus s : kStatuses) {
      out.Sample("kumo_server_status",
                 {{"server", row.obs->server.name}, {"status", std::string(ToString(s))}},
                 row.obs->server.status == s ? 1 : 0);
    }
  }
  PerServer(out, rows, "kumo_server_up", "gauge", "1 while the server's QEMU runs the guest.",
            [](const Row& r) { return r.obs->server.power == Power::kRunning ? 1.0 : 0.0; });
  PerServer(out, rows, "kumo_guest_agent_up", "gauge",
            "1 while the guest agent answers the heartbeat.",
            [](const Row& r) { return r.obs->server.agent == AgentState::kOk ? 1.0 : 0.0; });
  PerServer(out, rows, "kumo_guest_memory_available_bytes", "gauge",
            "MemAvailable in the guest (kumo-health).", [](const Row& r) {
              return Guest(r, &telemetry::GuestHealth::mem_available_kib, 1024);
            });
  PerServer(out, rows, "kumo_guest_memory_total_bytes", "gauge",
            "MemTotal in the guest (kumo-health).",
            [](const Row& r) { return Guest(r, &telemetry::GuestHealth::mem_total_kib, 1024); });
  PerServer(out, rows, "kumo_guest_load1", "gauge",
            "The guest's 1-minute load average (kumo-health).",
            [](const Row& r) { return Guest(r, &telemetry::GuestHealth::load1); });
  out.Family("kumo_guest_pressure_avg10_ratio", "gauge",
             "The guest's pressure stall information, share of the last 10 s (kumo-health).");
  struct Psi {
    const char* resource;
    const char* kind;
    std::optional<double> telemetry::GuestHealth::*field;
  };
  const Psi kPsi[] = {{"cpu", "some", &telemetry::GuestHealth::psi_cpu_some10},
                      {"memory", "some", &telemetry::GuestHealth::psi_mem_some10},
                      {"memory", "full", &telemetry::GuestHealth::psi_mem_full10},
                      {"io", "some", &telemetry::GuestHealth::psi_io_some10},
                      {"io", "full", &telemetry::GuestHealth::psi_io_full10}};
  for (const auto& row : rows) {
    for (const auto& p : kPsi) {
      if (auto v = Guest(row, p.field, 0.01)) {
        out.Sample("kumo_guest_pressure_avg10_ratio",
                   {{"server", row.obs->server.name}, {"resource", p.resource}, {"kind", p.kind}},
                   *v);
      }
    }
  }
  PerServer(out, rows, "kumo_guest_oom_kills_total", "counter",
            "Processes the guest's OOM killer killed during the current boot (console and agent).",
            [](const Row& r) -> std::optional<double> {
              if (r.obs->server.power == Power::kOff) return std::nullopt;
              return static_cast<double>(diagnosis::OomVictims(*r.obs).size());
            });
  PerServer(out, rows, "kumo_guest_root_filesystem_used_bytes", "gauge",
            "Used space of the guest's root filesystem.",
            [](const Row& r) { return Guest(r, &telemetry::GuestHealth::root_used_kib, 1024); });
  PerServer(out, rows, "kumo_guest_root_filesystem_size_bytes", "gauge",
            "Size of the guest's root filesystem.",
            [](const Row& r) { return Guest(r, &telemetry::GuestHealth::root_total_kib, 1024); });
  PerServer(out, rows, "kumo_qemu_cpu_seconds_total", "counter",
            "CPU time of the server's QEMU process (/proc).",
            [](const Row& r) -> std::optional<double> {
              if (!r.figures->qemu || r.obs->server.qemu_pid == 0) return std::nullopt;
              return r.figures->qemu->cpu_seconds;
            });
  PerServer(out, rows, "kumo_qemu_rss_bytes", "gauge",
            "Resident memory of the server's QEMU process (/proc).",
            [](const Row& r) -> std::optional<double> {
              if (!r.figures->qemu || r.obs->server.qemu_pid == 0) return std::nullopt;
              return static_cast<double>(r.figures->qemu->rss_bytes);
            });
  out.Family("kumo_findings", "gauge", "Open diagnosis findings, by code and severity.");
  for (const auto& row : rows) {
    for (const auto& f : row.diagnosis.findings) {
      out.Sample("kumo_findings",
                 {{"server", row.obs->server.name},
                  {"code", f.code},
                  {"severity", std::string(diagnosis::SeverityName(f.severity))}},
                 1);
    }
  }
}

}  // namespace

std::string RenderMetrics(const MetricsSources& s) {
  PrometheusText out;
  std::vector<Row> rows;
  s.observer.ForEach([&](const diagnosis::Observation& o, const diagnosis::ServerFigures& f,
                         const diagnosis::Diagnosis& d) {
    rows.push_back({&o, &f, d});
  });
  WriteServers(out, rows);
  out.Family("kumo_servers", "gauge", "Servers kumod manages.");
  out.Sample("kumo_servers", {}, static_cast<double>(rows.size()));
  s.api.WriteTo(out);
  out.Family("kumo_heartbeat_round_trip_seconds", "histogram",
             "Time from a heartbeat's guest-ping to the agent's answer.");
  out.HistogramSamples("kumo_heartbeat_round_trip_seconds", {}, s.heartbeat_round_trip);
  out.Family("kumo_watch_clients", "gauge", "Clients following GET /v1/watch.");
  out.Sample("kumo_watch_clients", {},
             static_cast<double>(s.watch_clients ? s.watch_clients() : 0));
  if (auto space = DiskSpaceOf(s.core.state_dir()); space.ok()) {
    out.Family("kumo_state_dir_free_bytes", "gauge",
               "Free space in kumod's state directory's filesystem.");
    out.Sample("kumo_state_dir_free_bytes", {}, static_cast<double>(space->free_bytes));
    out.Family("kumo_state_dir_size_bytes", "gauge",
               "Size of kumod's state directory's filesystem.");
    out.Sample("kumo_state_dir_size_bytes", {}, static_cast<double>(space->total_bytes));
  }
  out.Family("kumo_unsaved_changes", "gauge",
             "Changes kept in memory because the state directory is full.");
  out.Sample("kumo_unsaved_changes", {}, static_cast<double>(s.core.unsaved_changes()));
  return out.Take();
}

}  // namespace kumo::api
