// The diagnosis and telemetry routes of the Router (router.h).
#include "api/router.h"

namespace kumo::api {
namespace {

ApiResponse NoObserver() {
  return ErrorResponse(503, codes::kInternal, "the diagnosis is not running in this kumod");
}

// ?window=1h (5 s samples, the default) or 24h (1 min samples).
struct Window {
  telemetry::Resolution resolution;
  int64_t span_ms;
  const char* step;
};

}  // namespace

json DiagnosisJson(const ServerRecord& r, const diagnosis::Diagnosis& d, int64_t checked_at_ms) {
  json findings = json::array();
  for (const auto& f : d.findings) findings.push_back(diagnosis::ToJson(f));
  json checks = json::array();
  for (const auto& c : d.checks) checks.push_back(diagnosis::ToJson(c));
  return {{"server", r.name},
          {"status", std::string(ToString(r.status))},
          {"status_reason", r.status_reason},
          {"checked_at", checked_at_ms},
          {"findings", findings},
          {"checks", checks}};
}

ApiResponse Router::GetDiagnosis(const ApiRequest&, const std::string& name) {
  if (!observability_.observer) return NoObserver();
  auto record = core_.Get(name);
  if (!record.ok()) return ErrorResponse(record.status());
  auto d = observability_.observer->Diagnose(name);
  if (!d.ok()) return ErrorResponse(d.status());
  return {200, DiagnosisJson(*record, *d, core_.NowMs())};
}

ApiResponse Router::GetServerMetrics(const ApiRequest& req, const std::string& name) {
  Window window{telemetry::Resolution::k5s, 3600 * 1000, "5s"};
  if (auto it = req.query.find("window"); it != req.query.end()) {
    if (it->second == "24h") {
      window = {telemetry::Resolution::k1m, 24 * 3600 * 1000, "1m"};
    } else if (it->second != "1h") {
      return ErrorResponse(
          400, codes::kInvalidArgument,
          "query parameter 'window' must be 1h or 24h, not '" + it->second.substr(0, 32) + "'");
    }
  }
  if (!observability_.observer) return NoObserver();
  int64_t now = core_.NowMs();
  auto samples =
      observability_.observer->Series(name, window.resolution, now - window.span_ms, now + 1);
  if (!samples.ok()) return ErrorResponse(samples.status());
  return {200,
          {{"server", name},
           {"step", window.step},
           {"from", now - window.span_ms},
           {"to", now},
           {"series", telemetry::SeriesJson(*samples)}}};
}

ApiResponse Router::GetMetrics(const ApiRequest&, const std::string&) {
  if (!observability_.render_metrics) return NoObserver();
  ApiResponse r;
  r.status = 200;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.raw_body = observability_.render_metrics();
  return r;
}

}  // namespace kumo::api
