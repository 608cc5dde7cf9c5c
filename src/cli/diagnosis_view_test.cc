#include "cli/diagnosis_view.h"

#include <gtest/gtest.h>

namespace kumo::cli {
namespace {

using json = nlohmann::json;

TEST(DiagnosisText, ShowsTheCauseItsEvidenceAndTheCommandsThatHelp) {
  json d = json::parse(R"J({
    "server": "web", "status": "warning", "checked_at": 1700000000000,
    "findings": [{"code": "oom_kill", "severity": "critical",
                  "summary": "the OOM killer killed dropbear (pid 212, 4 MiB)",
                  "since": 1700000000000,
                  "evidence": [{"source": "console", "time": 1700000000000,
                                "text": "Out of memory: Killed process 212 (dropbear)"},
                               {"source": "agent", "time": null, "text": "kumo-health: OOM kill"}],
                  "actions": [{"action": "force_stop", "why": "cuts the power"},
                              {"action": "console", "why": "log in"}]}],
    "checks": [{"code": "oom_kill", "state": "found", "detail": "x"},
               {"code": "disk_full", "state": "clear", "detail": "850 MiB available"}]})J");
  std::string text = DiagnosisText(d);
  EXPECT_NE(text.find("web: warning — 1 finding"), std::string::npos) << text;
  EXPECT_NE(text.find("CRITICAL  oom_kill  since 22:13:20 UTC"), std::string::npos) << text;
  EXPECT_NE(text.find("22:13:20  console Out of memory: Killed process 212 (dropbear)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("kumo stop --force web"), std::string::npos) << text;
  EXPECT_NE(text.find("kumo console web"), std::string::npos) << text;
  EXPECT_NE(text.find("disk_full          clear   850 MiB available"), std::string::npos) << text;
}

TEST(DiagnosisText, AHealthySeverSaysNothingWasFoundAndWhatWasChecked) {
  json d = {{"server", "db"},
            {"status", "running"},
            {"findings", json::array()},
            {"checks", {{{"code", "kernel_panic"}, {"state", "clear"}, {"detail", "no panic"}}}}};
  std::string text = DiagnosisText(d);
  EXPECT_NE(text.find("db: running — nothing found"), std::string::npos) << text;
  EXPECT_NE(text.find("kernel_panic"), std::string::npos);
}

TEST(DiagnosisText, HostileShapesDoNotThrow) {
  for (const char* body :
       {"{}", "[]", R"J({"findings": 3, "checks": "x"})J",
        R"J({"findings": [{"evidence": [1, {"time": "x"}], "actions": [null]}]})J"}) {
    EXPECT_NO_THROW(DiagnosisText(json::parse(body))) << body;
  }
}

}  // namespace
}  // namespace kumo::cli
