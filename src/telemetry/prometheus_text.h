// Prometheus text exposition format 0.0.4: families with # HELP and # TYPE,
// samples with escaped labels, histograms with cumulative buckets. The output
// always parses: a family or sample whose metric or label name is not a valid
// Prometheus name is left out (names are the caller's constants, so that is a
// bug to catch in tests, not a runtime condition), label values are made valid
// UTF-8 and escaped.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kumo::telemetry {

using Labels = std::vector<std::pair<std::string, std::string>>;

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool IsValidMetricName(std::string_view name);
// [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" (reserved)
bool IsValidLabelName(std::string_view name);
// A number as Prometheus writes it: +Inf, -Inf, NaN, integers without exponent
// or fraction, else the shortest text that reads back as the same double.
std::string FormatValue(double value);

class Histogram {  // cumulative buckets, le upper bounds ascending (+Inf implied)
 public:
  // Bounds are sorted; duplicates, NaN and infinities are dropped.
  explicit Histogram(std::vector<double> upper_bounds);
  // A NaN observation is ignored.
  void Observe(double value);
  // (le, observations <= le), ascending, cumulative; +Inf not included (it is count()).
  std::vector<std::pair<double, uint64_t>> buckets() const;
  uint64_t count() const { return count_; }
  double sum() const { return sum_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative
  uint64_t count_ = 0;
  double sum_ = 0;
};

// Writes in the order called. REQUIRES: a family's samples follow its Family()
// call together (the format groups them; a repeated Family() is ignored), and
// a counter's name ends in _total (promtool's lint).
class PrometheusText {
 public:
  // # HELP / # TYPE once per family (type: "counter" | "gauge" | "histogram"; another type is
  // written as "untyped"); REQUIRES a valid name.
  void Family(std::string_view name, std::string_view type, std::string_view help);
  // NaN is written as NaN (a gauge with no value now: prefer leaving the sample out).
  void Sample(std::string_view name, const Labels& labels, double value);
  // name_bucket{labels, le="..."} for each bound and +Inf, name_sum, name_count.
  void HistogramSamples(std::string_view name, const Labels& labels, const Histogram& h);
  // The text so far; starts afresh.
  std::string Take();

 private:
  void Line(std::string_view name, const Labels& labels,
            const std::pair<std::string, std::string>* extra, std::string_view value);

  std::string out_;
  std::set<std::string, std::less<>> families_;
};

}  // namespace kumo::telemetry
