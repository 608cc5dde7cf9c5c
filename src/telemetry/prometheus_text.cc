#include "telemetry/prometheus_text.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "telemetry/guest_text.h"

namespace kumo::telemetry {
namespace {

bool NameChar(char c, bool first, bool colon) {
  bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
  return alpha || (!first && c >= '0' && c <= '9');
}

bool ValidName(std::string_view name, bool colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!NameChar(name[i], i == 0, colon)) return false;
  }
  return true;
}

// Label values escape \\, \" and newline; HELP escapes \\ and newline.
std::string Escape(std::string_view text, bool quote) {
  std::string out;
  for (char c : ValidUtf8(text)) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

bool IsValidMetricName(std::string_view name) { return ValidName(name, true); }

bool IsValidLabelName(std::string_view name) {
  return ValidName(name, false) && name.substr(0, 2) != "__";
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  if (value == std::trunc(value) && std::fabs(value) < 1e15) {
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(value));
    return std::string(buf, end);
  }
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  return std::string(buf, end);
}

Histogram::Histogram(std::vector<double> upper_bounds) {
  for (double b : upper_bounds) {
    if (std::isfinite(b)) bounds_.push_back(b);
  }
  std::sort(bounds_.begin(), bounds_.end());
  bounds_.erase(std::unique(bounds_.begin(), bounds_.end()), bounds_.end());
  counts_.assign(bounds_.size(), 0);
}

void Histogram::Observe(double value) {
  if (std::isnan(value)) return;
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);  // le: value <= bound
  if (it != bounds_.end()) ++counts_[it - bounds_.begin()];
  ++count_;
  sum_ += value;
}

std::vector<std::pair<double, uint64_t>> Histogram::buckets() const {
  std::vector<std::pair<double, uint64_t>> out;
  uint64_t total = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    total += counts_[i];
    out.emplace_back(bounds_[i], total);
  }
  return out;
}

void PrometheusText::Family(std::string_view name, std::string_view type, std::string_view help) {
  if (!IsValidMetricName(name) || families_.count(name)) return;
  if (type != "counter" && type != "gauge" && type != "histogram" && type != "summary") {
    type = "untyped";
  }
  families_.emplace(name);
  out_.append("# HELP ").append(name).append(" ").append(Escape(help, false)).append("\n");
  out_.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void PrometheusText::Line(std::string_view name, const Labels& labels,
                          const std::pair<std::string, std::string>* extra,
                          std::string_view value) {
  if (!IsValidMetricName(name)) return;
  std::string line(name);
  bool first = true;
  auto add = [&](const std::pair<std::string, std::string>& label) {
    line += first ? "{" : ",";
    first = false;
    line.append(label.first).append("=\"").append(Escape(label.second, true)).append("\"");
  };
  for (const auto& label : labels) {
    if (!IsValidLabelName(label.first)) return;
    add(label);
  }
  if (extra) add(*extra);
  if (!first) line += "}";
  out_.append(line).append(" ").append(value).append("\n");
}

void PrometheusText::Sample(std::string_view name, const Labels& labels, double value) {
  Line(name, labels, nullptr, FormatValue(value));
}

void PrometheusText::HistogramSamples(std::string_view name, const Labels& labels,
                                      const Histogram& h) {
  std::string base(name);
  for (const auto& [bound, count] : h.buckets()) {
    std::pair<std::string, std::string> le("le", FormatValue(bound));
    Line(base + "_bucket", labels, &le, FormatValue(static_cast<double>(count)));
  }
  std::pair<std::string, std::string> inf("le", "+Inf");
  Line(base + "_bucket", labels, &inf, FormatValue(static_cast<double>(h.count())));
  Line(base + "_sum", labels, nullptr, FormatValue(h.sum()));
  Line(base + "_count", labels, nullptr, FormatValue(static_cast<double>(h.count())));
}

std::string PrometheusText::Take() {
  families_.clear();
  return std::exchange(out_, std::string());
}

}  // namespace kumo::telemetry
