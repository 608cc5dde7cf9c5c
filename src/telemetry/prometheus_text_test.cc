#include "telemetry/prometheus_text.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "support/child_process.h"

namespace kumo::telemetry {
namespace {

TEST(PrometheusText, FormatsNumbersAsPrometheusDoes) {
  const double inf = std::numeric_limits<double>::infinity();
  struct Case {
    double value;
    const char* want;
  };
  const Case cases[] = {
      {0, "0"},
      {-0.0, "0"},
      {42, "42"},
      {-7, "-7"},
      {1e14, "100000000000000"},
      {2.5, "2.5"},
      {0.1, "0.1"},
      {1.0 / 3, "0.3333333333333333"},
      {1e20, "1e+20"},
      {1.5e-7, "1.5e-07"},
      {inf, "+Inf"},
      {-inf, "-Inf"},
      {std::nan(""), "NaN"},
      {4294967296.0, "4294967296"},
  };
  for (const auto& c : cases) EXPECT_EQ(FormatValue(c.value), c.want) << c.want;
}

TEST(PrometheusText, EscapesLabelValuesAndHelp) {
  PrometheusText p;
  p.Family("kumo_server_up", "gauge", "1 when up\\down\nsecond line \"quoted\"");
  p.Sample("kumo_server_up", {{"server", "a\\b\"c\nd"}, {"project", "x"}}, 1);
  p.Sample("kumo_server_up", {}, 0);
  EXPECT_EQ(p.Take(),
            "# HELP kumo_server_up 1 when up\\\\down\\nsecond line \"quoted\"\n"
            "# TYPE kumo_server_up gauge\n"
            "kumo_server_up{server=\"a\\\\b\\\"c\\nd\",project=\"x\"} 1\n"
            "kumo_server_up 0\n");
  EXPECT_EQ(p.Take(), "");
}

TEST(PrometheusText, FamilyOnceAndInvalidNamesLeftOut) {
  PrometheusText p;
  p.Family("kumo_x", "gauge", "x");
  p.Family("kumo_x", "gauge", "again");
  p.Family("2bad", "gauge", "bad");
  p.Family("kumo_y", "bogus", "y");
  p.Sample("bad-name", {}, 1);
  p.Sample("kumo_x", {{"bad label", "v"}}, 1);
  p.Sample("kumo_x", {{"__reserved", "v"}}, 1);
  p.Sample("kumo_x", {{"ok", "\xff"}}, std::nan(""));
  EXPECT_EQ(p.Take(),
            "# HELP kumo_x x\n# TYPE kumo_x gauge\n"
            "# HELP kumo_y y\n# TYPE kumo_y untyped\n"
            "kumo_x{ok=\"\xEF\xBF\xBD\"} NaN\n");
  EXPECT_TRUE(IsValidMetricName("kumo:rule_x_total"));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_FALSE(IsValidLabelName("a:b"));
}

TEST(Histogram, BucketsAreCumulativeWithLeInclusive) {
  Histogram h({1, 0.1, 0.5, 0.5, std::nan(""), std::numeric_limits<double>::infinity()});
  for (double v : {0.05, 0.1, 0.3, 0.5, 0.7, 3.0, std::nan("")}) h.Observe(v);
  auto b = h.buckets();
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0], std::make_pair(0.1, uint64_t{2}));  // 0.05 and 0.1 (le is <=)
  EXPECT_EQ(b[1], std::make_pair(0.5, uint64_t{4}));
  EXPECT_EQ(b[2], std::make_pair(1.0, uint64_t{5}));
  EXPECT_EQ(h.count(), 6u);  // 3.0 only in +Inf; NaN not at all
  EXPECT_DOUBLE_EQ(h.sum(), 0.05 + 0.1 + 0.3 + 0.5 + 0.7 + 3.0);

  PrometheusText p;
  p.Family("kumo_api_request_duration_seconds", "histogram", "API latency");
  p.HistogramSamples("kumo_api_request_duration_seconds", {{"route", "/v1/servers"}}, h);
  EXPECT_EQ(p.Take(),
            "# HELP kumo_api_request_duration_seconds API latency\n"
            "# TYPE kumo_api_request_duration_seconds histogram\n"
            "kumo_api_request_duration_seconds_bucket{route=\"/v1/servers\",le=\"0.1\"} 2\n"
            "kumo_api_request_duration_seconds_bucket{route=\"/v1/servers\",le=\"0.5\"} 4\n"
            "kumo_api_request_duration_seconds_bucket{route=\"/v1/servers\",le=\"1\"} 5\n"
            "kumo_api_request_duration_seconds_bucket{route=\"/v1/servers\",le=\"+Inf\"} 6\n"
            "kumo_api_request_duration_seconds_sum{route=\"/v1/servers\"} 4.65\n"
            "kumo_api_request_duration_seconds_count{route=\"/v1/servers\"} 6\n");
}

// Debian's python3-prometheus-client reads the text back: families, types,
// label values (unescaped) and values as they were given.
constexpr char kParse[] = R"(
import json, math, sys
try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    sys.exit(77)
out = []
for f in text_string_to_metric_families(open(sys.argv[1], encoding='utf-8').read()):
    for s in f.samples:
        v = s.value
        v = 'NaN' if math.isnan(v) else ('+Inf' if v == math.inf else ('-Inf' if v == -math.inf else v))
        out.append([f.name, f.type, f.documentation, s.name, s.labels, v])
print(json.dumps(out))
)";

// Runs argv (no shell) with stdin from `in` and stdout + stderr to `out`;
// returns the wait status, or -1 if it had not ended within 60 s (then killed).
int RunWithStdin(const std::vector<std::string>& argv, const std::string& in,
                 const std::string& out) {
  pid_t pid = fork();
  if (pid == 0) {
    int in_fd = open(in.c_str(), O_RDONLY);
    int out_fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in_fd < 0 || out_fd < 0) _exit(126);
    dup2(in_fd, 0);
    dup2(out_fd, 1);
    dup2(out_fd, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  if (pid < 0) return -1;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return status;
}

TEST(PrometheusText, ARealParserReadsItBack) {
  PrometheusText p;
  p.Family("kumo_server_agent_up", "gauge", "1 when the guest agent answers.\nA \\ line.");
  p.Sample("kumo_server_agent_up", {{"server", "web-1"}}, 1);
  p.Sample("kumo_server_agent_up", {{"server", "quo\"te\\back\nslash \xe3\x81\x82"}}, 0);
  p.Sample("kumo_server_agent_up", {{"server", "nan"}}, std::nan(""));
  p.Family("kumo_server_oom_kills_total", "counter", "OOM kills the agent reported.");
  p.Sample("kumo_server_oom_kills_total", {{"server", "web-1"}}, 3);
  p.Family("kumo_server_memory_available_bytes", "gauge", "Guest MemAvailable.");
  p.Sample("kumo_server_memory_available_bytes", {{"server", "web-1"}}, 1.5e9);
  p.Sample("kumo_server_memory_available_bytes", {{"server", "inf"}},
           -std::numeric_limits<double>::infinity());
  Histogram h({0.005, 0.05, 0.5});
  for (double v : {0.001, 0.02, 0.02, 0.7}) h.Observe(v);
  p.Family("kumo_heartbeat_rtt_seconds", "histogram", "Agent heartbeat round trip.");
  p.HistogramSamples("kumo_heartbeat_rtt_seconds", {}, h);
  std::string text = p.Take();

  kumo::testing::TempDir dir;
  kumo::testing::WriteFile(dir / "metrics.txt", text);
  kumo::testing::ChildProcess python;
  std::string err;
  ASSERT_TRUE(python.Start({PYTHON3_PATH, "-c", kParse, dir / "metrics.txt"}, dir / "out", &err))
      << err;
  int status = python.WaitExit(std::chrono::seconds(60));
  std::string out = kumo::testing::ReadFile(dir / "out");
  ASSERT_TRUE(WIFEXITED(status)) << out;
  if (WEXITSTATUS(status) == 77)
    GTEST_SKIP() << "python3 lacks prometheus_client (Debian: python3-prometheus-client)";
  ASSERT_EQ(WEXITSTATUS(status), 0) << out << "\n" << text;
  auto got = nlohmann::json::parse(out);
  auto want = nlohmann::json::parse(R"([
    ["kumo_server_agent_up", "gauge", "1 when the guest agent answers.\nA \\ line.",
     "kumo_server_agent_up", {"server": "web-1"}, 1.0],
    ["kumo_server_agent_up", "gauge", "1 when the guest agent answers.\nA \\ line.",
     "kumo_server_agent_up", {"server": "quo\"te\\back\nslash あ"}, 0.0],
    ["kumo_server_agent_up", "gauge", "1 when the guest agent answers.\nA \\ line.",
     "kumo_server_agent_up", {"server": "nan"}, "NaN"],
    ["kumo_server_oom_kills", "counter", "OOM kills the agent reported.",
     "kumo_server_oom_kills_total", {"server": "web-1"}, 3.0],
    ["kumo_server_memory_available_bytes", "gauge", "Guest MemAvailable.",
     "kumo_server_memory_available_bytes", {"server": "web-1"}, 1500000000.0],
    ["kumo_server_memory_available_bytes", "gauge", "Guest MemAvailable.",
     "kumo_server_memory_available_bytes", {"server": "inf"}, "-Inf"],
    ["kumo_heartbeat_rtt_seconds", "histogram", "Agent heartbeat round trip.",
     "kumo_heartbeat_rtt_seconds_bucket", {"le": "0.005"}, 1.0],
    ["kumo_heartbeat_rtt_seconds", "histogram", "Agent heartbeat round trip.",
     "kumo_heartbeat_rtt_seconds_bucket", {"le": "0.05"}, 3.0],
    ["kumo_heartbeat_rtt_seconds", "histogram", "Agent heartbeat round trip.",
     "kumo_heartbeat_rtt_seconds_bucket", {"le": "0.5"}, 3.0],
    ["kumo_heartbeat_rtt_seconds", "histogram", "Agent heartbeat round trip.",
     "kumo_heartbeat_rtt_seconds_bucket", {"le": "+Inf"}, 4.0],
    ["kumo_heartbeat_rtt_seconds", "histogram", "Agent heartbeat round trip.",
     "kumo_heartbeat_rtt_seconds_sum", {}, 0.741],
    ["kumo_heartbeat_rtt_seconds", "histogram", "Agent heartbeat round trip.",
     "kumo_heartbeat_rtt_seconds_count", {}, 4.0]
  ])");
  ASSERT_EQ(got.size(), want.size()) << got.dump(1);
  // Prometheus' own parser and linter, when the build found promtool
  // (Debian's prometheus package; -DKUMO_PROMTOOL=PATH).
  if (std::string(KUMO_PROMTOOL).empty()) {
    std::printf("promtool not configured: python3-prometheus-client only\n");
  } else {
    int lint = RunWithStdin({KUMO_PROMTOOL, "check", "metrics"}, dir / "metrics.txt",
                            dir / "promtool.out");
    EXPECT_TRUE(WIFEXITED(lint) && WEXITSTATUS(lint) == 0)
        << lint << ": " << kumo::testing::ReadFile(dir / "promtool.out") << "\n"
        << text;
  }
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i][0], want[i][0]) << i;
    EXPECT_EQ(got[i][1], want[i][1]) << i;
    EXPECT_EQ(got[i][2], want[i][2]) << i;
    EXPECT_EQ(got[i][3], want[i][3]) << i;
    EXPECT_EQ(got[i][4], want[i][4]) << i;
    if (want[i][5].is_number()) {
      EXPECT_DOUBLE_EQ(got[i][5].get<double>(), want[i][5].get<double>()) << i;
    } else {
      EXPECT_EQ(got[i][5], want[i][5]) << i;
    }
  }
}

}  // namespace
}  // namespace kumo::telemetry
