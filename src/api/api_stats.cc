#include "api/api_stats.h"

namespace kumo::api {

std::vector<double> LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

void ApiStats::Record(const std::string& method, const std::string& route, int status,
                      double seconds) {
  // The client chooses the method: only the known ones become series.
  static const char* kMethods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"};
  std::string known = "other";
  for (const char* m : kMethods) {
    if (method == m) known = m;
  }
  ++requests_[{known, route, status}];
  auto it = latency_.find(route);
  if (it == latency_.end())
    it = latency_.emplace(route, telemetry::Histogram(LatencyBuckets())).first;
  it->second.Observe(seconds);
}

void ApiStats::WriteTo(telemetry::PrometheusText& out) const {
  out.Family("kumo_api_requests_total", "counter",
             "API requests answered, by method, route and HTTP status.");
  for (const auto& [key, n] : requests_) {
    const auto& [method, route, status] = key;
    out.Sample("kumo_api_requests_total",
               {{"method", method}, {"route", route}, {"code", std::to_string(status)}},
               static_cast<double>(n));
  }
  out.Family("kumo_api_request_duration_seconds", "histogram",
             "Time from a request's arrival at the router to its answer, by route.");
  for (const auto& [route, h] : latency_) {
    out.HistogramSamples("kumo_api_request_duration_seconds", {{"route", route}}, h);
  }
}

}  // namespace kumo::api
