#include "agent/init_status.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

namespace kumo::agent {
namespace {

namespace fs = std::filesystem;

constexpr char kFinished[] = R"({"format":1,"instance_id":"i-1","boot_id":"b-1","seed":true,
  "first_boot":true,"started":100,"ended":110,"finished":true,"running":null,"steps":[
  {"step":"hostname","exit_code":0,"started":100,"ended":100},
  {"step":"script","exit_code":3,"started":101,"ended":105},
  {"step":"runcmd-001","exit_code":0,"started":105,"ended":110}]})";

// Output tails from a map, cut the way ReadFileTail cuts files.
OutputTailReader FakeOutputs(std::map<std::string, std::string> outputs) {
  return [outputs](const std::string& step, size_t max_bytes, bool* truncated) {
    auto it = outputs.find(step);
    std::string text = it == outputs.end() ? "" : it->second;
    *truncated = text.size() > max_bytes;
    return *truncated ? text.substr(text.size() - max_bytes) : text;
  };
}

TEST(ComposeInitStatus, JoinsStepsAndOutputs) {
  json out;
  std::string err;
  ASSERT_TRUE(ComposeInitStatus(
      kFinished, FakeOutputs({{"script", "hello\n\x01\"quoted\"\xff\n"}, {"hostname", "h\n"}}),
      kInitStatusMaxBytes, &out, &err))
      << err;
  EXPECT_EQ(out["instance_id"], "i-1");
  EXPECT_EQ(out["boot_id"], "b-1");
  EXPECT_EQ(out["seed"], true);
  EXPECT_EQ(out["first_boot"], true);
  EXPECT_EQ(out["finished"], true);
  EXPECT_EQ(out["started"], 100);
  EXPECT_EQ(out["ended"], 110);
  EXPECT_TRUE(out["running"].is_null());
  EXPECT_EQ(out["steps_omitted"], 0);
  ASSERT_EQ(out["ran"].size(), 3u);
  EXPECT_EQ(out["ran"][1], json({{"step", "script"},
                                 {"exit_code", 3},
                                 {"started", 101},
                                 {"ended", 105},
                                 {"output", "hello\n\x01\"quoted\"\xff\n"},
                                 {"output_truncated", false}}));
  EXPECT_EQ(out["ran"][2]["output"], "");
  // Whatever the output holds, the reply serializes (invalid UTF-8 replaced).
  std::string wire = out.dump(-1, ' ', false, json::error_handler_t::replace);
  EXPECT_NE(wire.find(R"(hello\n\u0001\"quoted\")"), std::string::npos) << wire;
}

TEST(ComposeInitStatus, ReportsTheRunningStep) {
  json out;
  std::string err;
  ASSERT_TRUE(ComposeInitStatus(
      R"({"format":1,"instance_id":"i-1","seed":true,"first_boot":true,"started":5,
          "ended":null,"finished":false,"running":{"step":"script","started":6},"steps":[]})",
      FakeOutputs({{"script", "working\n"}}), kInitStatusMaxBytes, &out, &err))
      << err;
  EXPECT_EQ(out["finished"], false);
  EXPECT_TRUE(out["ended"].is_null());
  EXPECT_EQ(out["running"], json({{"step", "script"},
                                  {"started", 6},
                                  {"output", "working\n"},
                                  {"output_truncated", false}}));
  EXPECT_EQ(out["boot_id"], "");
}

TEST(ComposeInitStatus, NoSeed) {
  json out;
  std::string err;
  ASSERT_TRUE(ComposeInitStatus(
      R"({"format":1,"instance_id":null,"boot_id":"b","seed":false,"first_boot":false,
          "started":5,"ended":5,"finished":true,"running":null,"steps":[]})",
      FakeOutputs({}), kInitStatusMaxBytes, &out, &err))
      << err;
  EXPECT_TRUE(out["instance_id"].is_null());
  EXPECT_EQ(out["seed"], false);
  EXPECT_EQ(out["ran"], json::array());
}

TEST(ComposeInitStatus, OutputTailsAreCutTo4KiB) {
  json out;
  std::string err;
  std::string big = std::string(10000, 'a') + "THE END\n";
  ASSERT_TRUE(ComposeInitStatus(kFinished, FakeOutputs({{"script", big}}), kInitStatusMaxBytes,
                                &out, &err));
  const std::string tail = out["ran"][1]["output"];
  EXPECT_EQ(tail.size(), kInitOutputTailBytes);
  EXPECT_TRUE(tail.ends_with("THE END\n"));
  EXPECT_EQ(out["ran"][1]["output_truncated"], true);
}

TEST(ComposeInitStatus, StaysWithinTheLimitWithManySteps) {
  std::string steps;
  std::map<std::string, std::string> outputs;
  for (int i = 1; i <= 999; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "runcmd-%03d", i);
    if (!steps.empty()) steps += ",";
    steps += std::string(R"({"step":")") + name + R"(","exit_code":)" + (i == 500 ? "1" : "0") +
             R"(,"started":1795000000,"ended":1795000001})";
    outputs[name] = std::string(3000, '\x02');  // escapes to 6 bytes each
  }
  std::string result = R"({"format":1,"instance_id":"i","seed":true,"first_boot":true,)"
                       R"("started":1,"ended":2,"finished":true,"running":null,"steps":[)" +
                       steps + "]}";
  json out;
  std::string err;
  ASSERT_TRUE(ComposeInitStatus(result, FakeOutputs(outputs), kInitStatusMaxBytes, &out, &err))
      << err;
  EXPECT_LE(out.dump().size(), kInitStatusMaxBytes);
  EXPECT_GT(out["steps_omitted"].get<int>(), 0);
  EXPECT_EQ(out["ran"].size() + out["steps_omitted"].get<size_t>(), 999u);
  bool failed_kept = false;
  for (const auto& s : out["ran"]) failed_kept |= s["step"] == "runcmd-500";
  EXPECT_TRUE(failed_kept) << "a failed step is left out before the successful ones";
}

TEST(ComposeInitStatus, RejectsMalformedResults) {
  struct Case {
    const char* text;
    const char* error;
  };
  for (const auto& t : std::vector<Case>{
           {"", "not valid JSON"},
           {"{\"format\":1", "not valid JSON"},
           {"[]", "not a JSON object"},
           {R"({"format":2})", "unknown format (expected 1)"},
           {R"({"format":1,"instance_id":5})", "instance_id"},
           {R"({"format":1,"instance_id":"i","seed":"yes"})", "seed"},
           {R"({"format":1,"instance_id":"i","seed":true,"first_boot":true,"finished":true,
               "started":1,"ended":2,"running":null,"steps":{}})",
            "steps"},
           {R"({"format":1,"instance_id":"i","seed":true,"first_boot":true,"finished":true,
               "started":1,"ended":2,"running":null,"steps":[{"step":"../../etc/shadow",
               "exit_code":0,"started":1,"ended":2}]})",
            "steps[0]"},
           {R"({"format":1,"instance_id":"i","seed":true,"first_boot":true,"finished":true,
               "started":1,"ended":2,"running":{"step":"x"},"steps":[]})",
            "running"},
       }) {
    json out;
    std::string err;
    EXPECT_FALSE(ComposeInitStatus(t.text, FakeOutputs({}), kInitStatusMaxBytes, &out, &err))
        << t.text;
    EXPECT_EQ(err, std::string("kumo-init's result.json is malformed: ") + t.error) << t.text;
  }
}

class ReadInitStatusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kumo-init-status-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ / "output");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
  }
  fs::path dir_;
};

TEST_F(ReadInitStatusTest, ReadsResultAndOutputFiles) {
  Write("result.json", kFinished);
  Write("output/script.log", std::string(5000, 'x') + "exit 3 coming\n");
  json out;
  std::string err;
  ASSERT_TRUE(ReadInitStatus(dir_, &out, &err)) << err;
  EXPECT_EQ(out["ran"][1]["exit_code"], 3);
  EXPECT_EQ(out["ran"][1]["output"].get<std::string>().size(), kInitOutputTailBytes);
  EXPECT_TRUE(out["ran"][1]["output"].get<std::string>().ends_with("exit 3 coming\n"));
  EXPECT_EQ(out["ran"][1]["output_truncated"], true);
  EXPECT_EQ(out["ran"][0]["output"], "");  // no log file: no output
}

TEST_F(ReadInitStatusTest, MissingResultIsAClearError) {
  json out;
  std::string err;
  EXPECT_FALSE(ReadInitStatus(dir_, &out, &err));
  EXPECT_EQ(err, "kumo-init has recorded nothing: " + (dir_ / "result.json").string() +
                     " does not exist (the image does not run kumo-init)");
}

TEST_F(ReadInitStatusTest, MalformedAndOversizedResultsAreErrors) {
  Write("result.json", "{\"format\":1,");
  json out;
  std::string err;
  EXPECT_FALSE(ReadInitStatus(dir_, &out, &err));
  EXPECT_EQ(err, "kumo-init's result.json is malformed: not valid JSON");

  Write("result.json", std::string(2 * 1024 * 1024, ' '));
  EXPECT_FALSE(ReadInitStatus(dir_, &out, &err));
  EXPECT_EQ(err, "kumo-init's result.json is malformed: larger than 1 MiB");
}

TEST_F(ReadInitStatusTest, OutputLinksAreNotFollowed) {
  Write("result.json", kFinished);
  fs::create_symlink("/etc/hostname", dir_ / "output/script.log");
  json out;
  std::string err;
  ASSERT_TRUE(ReadInitStatus(dir_, &out, &err)) << err;
  EXPECT_EQ(out["ran"][1]["output"], "");
}

TEST(ReadFileTail, ReadsTheEnd) {
  char path[] = "/tmp/kumo-tail-test.XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "0123456789", 10), 10);
  close(fd);
  bool truncated = true;
  EXPECT_EQ(ReadFileTail(path, 100, &truncated), "0123456789");
  EXPECT_FALSE(truncated);
  EXPECT_EQ(ReadFileTail(path, 4, &truncated), "6789");
  EXPECT_TRUE(truncated);
  EXPECT_EQ(ReadFileTail(path, 0, &truncated), "");
  unlink(path);
  EXPECT_EQ(ReadFileTail(path, 4, &truncated), std::nullopt);
}

}  // namespace
}  // namespace kumo::agent
