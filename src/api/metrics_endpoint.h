// GET /metrics: Prometheus text exposition of every server (status, agent,
// the guest's memory, pressure, load, OOM kills and root filesystem from its
// latest kumo-health, QEMU's CPU and RSS from /proc, open findings) and of
// kumod itself (API requests and latency, heartbeat round trips, watch
// clients, the state directory's space). docs/kumod.md has a scrape config.
#pragma once

#include <functional>
#include <string>

#include "api/api_stats.h"
#include "core/server_core.h"
#include "diagnosis/server_observer.h"
#include "telemetry/prometheus_text.h"

namespace kumo::api {

struct MetricsSources {
  core::ServerCore& core;
  diagnosis::ServerObserver& observer;
  const ApiStats& api;
  const telemetry::Histogram& heartbeat_round_trip;
  std::function<size_t()> watch_clients;
};

std::string RenderMetrics(const MetricsSources& sources);

}  // namespace kumo::api
