#include "agent/init_sources.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "support/child_process.h"

namespace kumo::agent {
namespace {

namespace fs = std::filesystem;

constexpr char kKumoInitResult[] = R"({"format":1,"instance_id":"i-1","boot_id":"b-1",
  "seed":true,"first_boot":true,"started":100,"ended":101,"finished":true,"running":null,
  "steps":[{"step":"hostname","exit_code":0,"started":100,"ended":101}]})";

constexpr char kCloudInitStatus[] = R"({"v1": {"datasource": null, "stage": "init-local",
  "init-local": {"errors": [], "start": 1795582300.41, "finished": null},
  "init": {"errors": [], "start": null, "finished": null}}})";

class InitSourcesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sources_.kumo_init_dir = root_ / "kumo-init";
    sources_.cloud_init.run_dir = root_ / "cloud-init";
    sources_.cloud_init.data_dir = root_ / "cloud-data";
    sources_.cloud_init.boot_id_file = root_ / "boot_id";
    fs::create_directories(sources_.kumo_init_dir);
    fs::create_directories(sources_.cloud_init.run_dir);
  }
  testing::TempDir root_;
  InitSources sources_;
};

TEST_F(InitSourcesTest, KumoInitIsPreferred) {
  testing::WriteFile(sources_.kumo_init_dir + "/result.json", kKumoInitResult);
  testing::WriteFile(sources_.cloud_init.run_dir + "/status.json", kCloudInitStatus);
  json out;
  std::string err;
  ASSERT_TRUE(ReadInitStatusFromSources(sources_, &out, &err)) << err;
  EXPECT_EQ(out["ran"][0]["step"], "hostname");
}

TEST_F(InitSourcesTest, CloudInitWithoutKumoInit) {
  testing::WriteFile(sources_.cloud_init.run_dir + "/status.json", kCloudInitStatus);
  json out;
  std::string err;
  ASSERT_TRUE(ReadInitStatusFromSources(sources_, &out, &err)) << err;
  EXPECT_EQ(out["running"]["step"], "cloud-init init-local");
  EXPECT_EQ(out["finished"], false);
}

TEST_F(InitSourcesTest, CloudInitEnabledButNotYetStarted) {
  testing::WriteFile(sources_.cloud_init.run_dir + "/enabled", "");
  json out;
  std::string err;
  ASSERT_TRUE(ReadInitStatusFromSources(sources_, &out, &err)) << err;
  EXPECT_EQ(out["finished"], false);
  EXPECT_TRUE(out["running"].is_null());
  EXPECT_EQ(out["ran"], json::array());
}

TEST_F(InitSourcesTest, NeitherIsAnErrorNamingBoth) {
  json out;
  std::string err;
  EXPECT_FALSE(ReadInitStatusFromSources(sources_, &out, &err));
  EXPECT_EQ(err, "nothing has recorded the user data's progress: neither kumo-init's " +
                     sources_.kumo_init_dir + "/result.json nor cloud-init's " +
                     sources_.cloud_init.run_dir + "/status.json exists (the image runs neither)");
}

}  // namespace
}  // namespace kumo::agent
