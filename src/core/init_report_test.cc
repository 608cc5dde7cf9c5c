#include "core/init_report.h"

#include <gtest/gtest.h>

namespace kumo::core {
namespace {

using json = nlohmann::json;

json Finished(json ran) {
  return {{"finished", true}, {"boot_id", "b-1"}, {"ran", std::move(ran)}, {"steps_omitted", 0}};
}

TEST(ReadInitReport, Table) {
  struct Case {
    const char* what;
    json status;
    bool finished;
    std::vector<std::string> messages;
  };
  const std::vector<Case> cases = {
      {"a script that succeeded, with its last output line",
       Finished({{{"step", "script"}, {"exit_code", 0}, {"output", "one\ntwo\n\n"}}}),
       true,
       {"init script exited with status 0 (last output: two)"}},
      {"a failing runcmd and a step without output",
       Finished({{{"step", "hostname"}, {"exit_code", 0}, {"output", ""}},
                 {{"step", "runcmd-002"}, {"exit_code", 3}, {"output", "boom"}}}),
       true,
       {"user data step 'hostname' exited with status 0",
        "user data runcmd-002 exited with status 3 (last output: boom)"}},
      {"still running: nothing to report yet",
       {{"finished", false}, {"ran", {{{"step", "script"}, {"exit_code", 0}}}}},
       false,
       {}},
      {"no seed, nothing ran", Finished(json::array()), true, {}},
      {"not an object", json::array(), false, {}},
      {"finished of the wrong type is not finished", {{"finished", "yes"}}, false, {}},
      {"fields of the wrong type read as absent",
       Finished({{{"step", 7}, {"exit_code", "0"}, {"output", {1, 2}}}, "not a step"}),
       true,
       {"user data step '?' exited with status -1"}},
      {"terminal escapes and long names are defused",
       Finished({{{"step", std::string(65, 'x')}, {"exit_code", 1}, {"output", "\x1b[2Jgone\r"}}}),
       true,
       {"user data step '?' exited with status 1 (last output:  [2Jgone)"}},
      {"cloud-init stages, with and without errors",
       Finished({{{"step", "cloud-init init"}, {"exit_code", 0}, {"output", ""}},
                 {{"step", "cloud-init modules-final"},
                  {"exit_code", 1},
                  {"output",
                   "('package_update_upgrade_install', ProcessExecutionError(\"Unexpected error "
                   "while running command.\\nCommand: ['apt-get', 'install', 'nginxx']\"))\n"
                   "('scripts_user', RuntimeError('Runparts: 1 failures (runcmd) in 1 attempted "
                   "commands'))\n"},
                  {"output_truncated", false}}}),
       true,
       {"cloud-init stage init finished without errors",
        "cloud-init stage modules-final finished with 2 errors (last: ('scripts_user', "
        "RuntimeError('Runparts: 1 failures (runcmd) in 1 attempted commands')))"}},
      {"a cloud-init stage with one error, one with its errors cut, one without its output",
       Finished({{{"step", "cloud-init init"}, {"exit_code", 1}, {"output", "boom\n"}},
                 {{"step", "cloud-init modules-config"},
                  {"exit_code", 1},
                  {"output", "rror one\nerror two\n"},
                  {"output_truncated", true}},
                 {{"step", "cloud-init modules-final"},
                  {"exit_code", 1},
                  {"output", ""},
                  {"output_truncated", true}}}),
       true,
       {"cloud-init stage init finished with 1 error (last: boom)",
        "cloud-init stage modules-config finished with at least 2 errors (last: error two)",
        "cloud-init stage modules-final finished with errors"}},
      {"a step named only \"cloud-init \" is an ordinary step",
       Finished({{{"step", "cloud-init "}, {"exit_code", 0}}}),
       true,
       {"user data step 'cloud-init ' exited with status 0"}},
      {"omitted steps are counted",
       json{{"finished", true}, {"ran", json::array()}, {"steps_omitted", 5}},
       true,
       {"5 earlier user data steps succeeded (not listed)"}},
  };
  for (const auto& c : cases) {
    InitReport r = ReadInitReport(c.status);
    EXPECT_EQ(r.finished, c.finished) << c.what;
    EXPECT_EQ(r.messages, c.messages) << c.what;
  }
}

TEST(ReadInitReport, LongOutputLinesAreCut) {
  InitReport r = ReadInitReport(
      Finished({{{"step", "script"}, {"exit_code", 0}, {"output", std::string(5000, 'a')}}}));
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_LT(r.messages[0].size(), 300u);
}

TEST(ReadInitReport, AGuestCannotFloodTheTimeline) {
  json ran = json::array();
  for (int i = 0; i < 10000; ++i) ran.push_back({{"step", "runcmd-001"}, {"exit_code", 0}});
  InitReport r = ReadInitReport(Finished(ran));
  ASSERT_EQ(r.messages.size(), kMaxInitStepMessages + 1);
  EXPECT_EQ(r.messages.back(), "user data ran 10000 steps; only the first 64 are listed");
  EXPECT_EQ(r.boot_id, "b-1");
}

}  // namespace
}  // namespace kumo::core
