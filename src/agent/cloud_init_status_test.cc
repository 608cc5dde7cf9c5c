#include "agent/cloud_init_status.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "support/child_process.h"

namespace kumo::agent {
namespace {

namespace fs = std::filesystem;

// As cloud-init 22.4 writes status.json (indent 1, keys sorted) once a boot
// has run every stage: Debian's units never run modules-init.
constexpr char kFinishedStatus[] = R"({
 "v1": {
  "datasource": "DataSourceNoCloud [seed=/dev/vdb][dsmode=net]",
  "init": {
   "errors": [],
   "finished": 1795582303.4405136,
   "start": 1795582301.8125412
  },
  "init-local": {
   "errors": [],
   "finished": 1795582300.9512043,
   "start": 1795582300.4121788
  },
  "modules-config": {
   "errors": [],
   "finished": 1795582305.0832763,
   "start": 1795582304.6021874
  },
  "modules-final": {
   "errors": [],
   "finished": 1795582307.7158306,
   "start": 1795582305.5013297
  },
  "modules-init": {
   "errors": [],
   "finished": null,
   "start": null
  },
  "stage": null
 }
}
)";

constexpr char kFinishedResult[] = R"({
 "v1": {
  "datasource": "DataSourceNoCloud [seed=/dev/vdb][dsmode=net]",
  "errors": []
 }
}
)";

// A runcmd that failed and a package that could not be installed: cloud-init
// records each failed module as str((name, exception)).
constexpr char kFinalErrors[] =
    R"json(["('package_update_upgrade_install', ProcessExecutionError(\"Unexpected error while running command.\\nCommand: ['apt-get', 'install', 'nginxx']\\nExit code: 100\"))",
    "('scripts_user', RuntimeError('Runparts: 1 failures (runcmd) in 1 attempted commands'))"])json";

// modules-config under way: init-local and init finished, the rest not begun.
constexpr char kRunningStatus[] = R"({
 "v1": {
  "datasource": "DataSourceNoCloud [seed=/dev/vdb][dsmode=net]",
  "init": {"errors": [], "finished": 1795582303.4405136, "start": 1795582301.8125412},
  "init-local": {"errors": [], "finished": 1795582300.9512043, "start": 1795582300.4121788},
  "modules-config": {"errors": [], "finished": null, "start": 1795582304.6021874},
  "modules-final": {"errors": [], "finished": null, "start": null},
  "modules-init": {"errors": [], "finished": null, "start": null},
  "stage": "modules-config"
 }
}
)";

CloudInitFacts FinishedFacts() {
  CloudInitFacts facts;
  facts.result_json = kFinishedResult;
  facts.instance_id = "i-8c1f4a2b\n";
  facts.previous_instance_id = "NO_PREVIOUS_INSTANCE_ID\n";
  facts.boot_id = "5e3b8f0c-2d4a-4b1e-9a6f-0c7d2e1f3a4b";
  return facts;
}

// The reply, or {"error": …} when status.json or result.json is refused.
json Compose(std::string_view status, const CloudInitFacts& facts) {
  json out;
  std::string err;
  if (!ComposeCloudInitStatus(status, facts, kInitStatusMaxBytes, &out, &err)) {
    return {{"error", err}};
  }
  return out;
}

json Step(const char* stage, int exit_code, int64_t started, int64_t ended, std::string output) {
  return {{"step", std::string("cloud-init ") + stage},
          {"exit_code", exit_code},
          {"started", started},
          {"ended", ended},
          {"output", std::move(output)},
          {"output_truncated", false}};
}

TEST(ComposeCloudInitStatus, FinishedWithoutErrors) {
  json out = Compose(kFinishedStatus, FinishedFacts());
  json expected = {{"instance_id", "i-8c1f4a2b"},
                   {"seed", true},
                   {"boot_id", "5e3b8f0c-2d4a-4b1e-9a6f-0c7d2e1f3a4b"},
                   {"first_boot", true},
                   {"finished", true},
                   {"started", 1795582300},
                   {"ended", 1795582307},
                   {"running", nullptr},
                   {"ran",
                    {Step("init-local", 0, 1795582300, 1795582300, ""),
                     Step("init", 0, 1795582301, 1795582303, ""),
                     Step("modules-config", 0, 1795582304, 1795582305, ""),
                     Step("modules-final", 0, 1795582305, 1795582307, "")}},
                   {"steps_omitted", 0}};
  EXPECT_EQ(out, expected) << out.dump(1);
}

TEST(ComposeCloudInitStatus, ErrorsInModulesFinal) {
  json status = json::parse(kFinishedStatus);
  status["v1"]["modules-final"]["errors"] = json::parse(kFinalErrors);
  status["v1"]["init"]["errors"] = {"a message\nover two lines"};
  CloudInitFacts facts = FinishedFacts();
  facts.previous_instance_id = "i-8c1f4a2b\n";  // a later boot of the same instance
  json out = Compose(status.dump(), facts);
  EXPECT_EQ(out["first_boot"], false);
  ASSERT_EQ(out["ran"].size(), 4u);
  EXPECT_EQ(out["ran"][1]["exit_code"], 1);
  EXPECT_EQ(out["ran"][1]["output"], "a message over two lines\n");  // one error, one line
  EXPECT_EQ(out["ran"][2]["exit_code"], 0);
  const json& final = out["ran"][3];
  EXPECT_EQ(final["step"], "cloud-init modules-final");
  EXPECT_EQ(final["exit_code"], 1);
  EXPECT_EQ(final["output"],
            "('package_update_upgrade_install', ProcessExecutionError(\"Unexpected error while "
            "running command.\\nCommand: ['apt-get', 'install', 'nginxx']\\nExit code: 100\"))\n"
            "('scripts_user', RuntimeError('Runparts: 1 failures (runcmd) in 1 attempted "
            "commands'))\n");
  EXPECT_EQ(final["output_truncated"], false);
}

TEST(ComposeCloudInitStatus, StillRunning) {
  CloudInitFacts facts;  // no result.json yet, instance-id not written
  json out = Compose(kRunningStatus, facts);
  EXPECT_EQ(out["finished"], false);
  EXPECT_TRUE(out["ended"].is_null());
  EXPECT_TRUE(out["instance_id"].is_null());
  EXPECT_EQ(out["first_boot"], false);
  EXPECT_EQ(out["running"], json({{"step", "cloud-init modules-config"},
                                  {"started", 1795582304},
                                  {"output", ""},
                                  {"output_truncated", false}}));
  ASSERT_EQ(out["ran"].size(), 2u);
  EXPECT_EQ(out["ran"][1]["step"], "cloud-init init");
}

TEST(ComposeCloudInitStatus, NewerFieldsAreIgnored) {
  // cloud-init 23.4 and later add recoverable_errors (warnings: not failures).
  json status = json::parse(kFinishedStatus);
  status["v1"]["modules-final"]["recoverable_errors"] = {{"WARNING", {"deprecated key"}}};
  json out = Compose(status.dump(), FinishedFacts());
  EXPECT_EQ(out["ran"][3]["exit_code"], 0);
}

TEST(ComposeCloudInitStatus, ManyLongErrorsStayWithinTheLimit) {
  json status = json::parse(kFinishedStatus);
  json errors = json::array();
  for (int i = 0; i < 2000; ++i) errors.push_back(std::string(400, 'e') + std::to_string(i));
  status["v1"]["modules-final"]["errors"] = errors;
  json out = Compose(status.dump(), FinishedFacts());
  EXPECT_LE(out.dump().size(), kInitStatusMaxBytes);
  const json& final = out["ran"][3];
  EXPECT_EQ(final["output_truncated"], true);
  EXPECT_TRUE(final["output"].get<std::string>().ends_with("e1999\n"));
}

TEST(ComposeCloudInitStatus, OddInstanceIdsReadAsUnknown) {
  CloudInitFacts facts = FinishedFacts();
  facts.instance_id = "i-1\x1b[2J";
  json out = Compose(kFinishedStatus, facts);
  EXPECT_TRUE(out["instance_id"].is_null());
  EXPECT_EQ(out["first_boot"], false);
}

TEST(ComposeCloudInitStatus, MalformedStatusIsAnError) {
  struct Case {
    std::string text;
    const char* error;
  };
  const std::vector<Case> cases = {
      {"{\"v1\": {", "not valid JSON"},
      {"[]", "no \"v1\" object"},
      {R"({"v1": []})", "no \"v1\" object"},
      {R"({"v1": {"init-local": "yes"}})", "init-local"},
      {R"({"v1": {"init-local": {"start": "today"}}})", "init-local.start"},
      {R"({"v1": {"init-local": {"start": 1e300}}})", "init-local.start"},
      {R"({"v1": {"init-local": {"start": -5}}})", "init-local.start"},
      {R"({"v1": {"init": {"start": 1, "finished": true}}})", "init.finished"},
      {R"({"v1": {"init": {"start": 1, "errors": "boom"}}})", "init.errors"},
      {R"({"v1": {"init": {"start": 1, "errors": [42]}}})", "init.errors"},
      {R"({"v1": {"stage": null}})", "no stage has started"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Compose(c.text, FinishedFacts()),
              json({{"error", std::string("cloud-init's status.json is malformed: ") + c.error}}))
        << c.text;
  }
}

TEST(ComposeCloudInitStatus, MalformedResultIsAnError) {
  CloudInitFacts facts = FinishedFacts();
  facts.result_json = "{\"v1\": ";
  EXPECT_EQ(Compose(kFinishedStatus, facts)["error"],
            "cloud-init's result.json is malformed: no \"v1\" object");
}

// The files laid out as cloud-init lays them out: /run/cloud-init/*.json are
// relative links into /var/lib/cloud/data.
class ReadCloudInitStatusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(root_.path() / "run/cloud-init");
    fs::create_directories(root_.path() / "var/lib/cloud/data");
    paths_.run_dir = root_ / "run/cloud-init";
    paths_.data_dir = root_ / "var/lib/cloud/data";
    paths_.boot_id_file = root_ / "boot_id";
    Write("boot_id", "5e3b8f0c-2d4a-4b1e-9a6f-0c7d2e1f3a4b\n");
  }
  void Write(const std::string& name, const std::string& text) {
    testing::WriteFile(root_ / name, text);
  }
  // Writes data/NAME and links run/cloud-init/NAME to it, as cloud-init does.
  void WriteLinked(const std::string& name, const std::string& text) {
    Write("var/lib/cloud/data/" + name, text);
    fs::create_symlink("../../var/lib/cloud/data/" + name, paths_.run_dir + "/" + name);
  }
  testing::TempDir root_;
  CloudInitPaths paths_;
};

TEST_F(ReadCloudInitStatusTest, ReadsAFinishedRunThroughItsLinks) {
  WriteLinked("status.json", kFinishedStatus);
  WriteLinked("result.json", kFinishedResult);
  Write("var/lib/cloud/data/instance-id", "i-8c1f4a2b\n");
  Write("var/lib/cloud/data/previous-instance-id", "NO_PREVIOUS_INSTANCE_ID\n");
  json out;
  std::string err;
  ASSERT_TRUE(ReadCloudInitStatus(paths_, &out, &err)) << err;
  EXPECT_EQ(out, Compose(kFinishedStatus, FinishedFacts())) << out.dump(1);
}

TEST_F(ReadCloudInitStatusTest, RunningWithoutResultOrInstanceId) {
  WriteLinked("status.json", kRunningStatus);
  json out;
  std::string err;
  ASSERT_TRUE(ReadCloudInitStatus(paths_, &out, &err)) << err;
  EXPECT_EQ(out["finished"], false);
  EXPECT_TRUE(out["instance_id"].is_null());
  EXPECT_EQ(out["running"]["step"], "cloud-init modules-config");
  EXPECT_EQ(out["boot_id"], "5e3b8f0c-2d4a-4b1e-9a6f-0c7d2e1f3a4b");
}

TEST_F(ReadCloudInitStatusTest, OversizedStatusIsAnError) {
  WriteLinked("status.json", std::string(2 * 1024 * 1024, ' '));
  json out;
  std::string err;
  EXPECT_FALSE(ReadCloudInitStatus(paths_, &out, &err));
  EXPECT_EQ(err, "cloud-init's status.json is malformed: larger than 1 MiB");
}

TEST_F(ReadCloudInitStatusTest, AFifoIsRefusedWithoutBlocking) {
  ASSERT_EQ(mkfifo((paths_.run_dir + "/status.json").c_str(), 0600), 0);
  json out;
  std::string err;
  EXPECT_FALSE(ReadCloudInitStatus(paths_, &out, &err));
  EXPECT_NE(err.find("cannot read"), std::string::npos) << err;
}

TEST_F(ReadCloudInitStatusTest, MissingStatusIsAnError) {
  json out;
  std::string err;
  EXPECT_FALSE(ReadCloudInitStatus(paths_, &out, &err));
  EXPECT_EQ(err,
            "cloud-init has recorded nothing: " + paths_.run_dir + "/status.json does not exist");
}

}  // namespace
}  // namespace kumo::agent
