// ApiStats: what kumod's API has served, for /metrics — requests by method,
// route (the pattern, so a path's names do not multiply the series) and
// HTTP status, and their latency as a histogram per route.
//
// Runs on kumod's event loop; not thread-safe.
#pragma once

#include <map>
#include <string>
#include <tuple>

#include "telemetry/prometheus_text.h"

namespace kumo::api {

class ApiStats {
 public:
  void Record(const std::string& method, const std::string& route, int status, double seconds);
  // Writes kumo_api_requests_total and kumo_api_request_duration_seconds.
  void WriteTo(telemetry::PrometheusText& out) const;

 private:
  std::map<std::tuple<std::string, std::string, int>, uint64_t> requests_;
  std::map<std::string, telemetry::Histogram> latency_;  // by route
};

// Latency buckets for API requests and heartbeats, in seconds.
std::vector<double> LatencyBuckets();

}  // namespace kumo::api
