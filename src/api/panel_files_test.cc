#include "api/panel_files.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace kumo::api {
namespace {

namespace fs = std::filesystem;

class PanelFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kumo-panel-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "assets");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& rel, const std::string& data) {
    std::ofstream(dir_ / rel, std::ios::binary) << data;
  }
  std::string Header(const ApiResponse& r, const std::string& name) {
    for (const auto& [n, v] : r.headers) {
      if (n == name) return v;
    }
    return "";
  }
  fs::path dir_;
};

TEST_F(PanelFilesTest, ServesThePageAndItsAssetsWithTypesCachingAndPolicy) {
  Write("index.html", "<!doctype html>");
  Write("assets/app-1.js", "console.log(1)");
  Write("assets/app-1.js.gz", "GZ");
  auto panel = PanelFiles::Load(dir_.string());
  ASSERT_TRUE(panel.ok()) << panel.status().message();
  EXPECT_EQ(panel->file_count(), 2u);

  auto page = panel->Serve("/", "");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->raw_body, "<!doctype html>");
  EXPECT_EQ(page->content_type, "text/html; charset=utf-8");
  EXPECT_EQ(Header(*page, "Cache-Control"), "no-cache");
  EXPECT_NE(Header(*page, "Content-Security-Policy").find("frame-ancestors 'none'"),
            std::string::npos);
  EXPECT_EQ(Header(*page, "X-Content-Type-Options"), "nosniff");

  auto plain = panel->Serve("/assets/app-1.js", "identity");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->raw_body, "console.log(1)");
  EXPECT_EQ(Header(*plain, "Content-Encoding"), "");
  EXPECT_NE(Header(*plain, "Cache-Control").find("immutable"), std::string::npos);
  EXPECT_EQ(plain->content_type, "text/javascript; charset=utf-8");

  auto gz = panel->Serve("/assets/app-1.js", "br, gzip;q=0.8");
  ASSERT_TRUE(gz);
  EXPECT_EQ(gz->raw_body, "GZ");
  EXPECT_EQ(Header(*gz, "Content-Encoding"), "gzip");
  EXPECT_EQ(Header(*gz, "Vary"), "Accept-Encoding");
}

TEST_F(PanelFilesTest, OnlyFilesThatWereThereAtStartAndNoTraversal) {
  Write("index.html", "page");
  fs::create_symlink("/etc/passwd", dir_ / "assets" / "passwd");
  auto panel = PanelFiles::Load(dir_.string());
  ASSERT_TRUE(panel.ok());
  Write("assets/later.js", "x");
  for (std::string path : {"/assets/passwd", "/assets/later.js", "/../index.html",
                           "/assets/../index.html", "/etc/passwd", "/index.html.gz", ""}) {
    EXPECT_FALSE(panel->Serve(path, "gzip")) << path;
  }
}

TEST_F(PanelFilesTest, AMissingBuildIsNamedWithTheWayToBuildIt) {
  auto panel = PanelFiles::Load((dir_ / "nope").string());
  ASSERT_FALSE(panel.ok());
  EXPECT_NE(panel.status().message().find("not built"), std::string::npos);
  EXPECT_NE(panel.status().hint().find("scripts/build-panel.sh"), std::string::npos);
}

TEST(AcceptsGzipTest, ReadsTheHeaderAsBrowsersAndProxiesSendIt) {
  EXPECT_TRUE(AcceptsGzip("gzip, deflate, br"));
  EXPECT_TRUE(AcceptsGzip("br;q=1.0, gzip;q=0.8"));
  EXPECT_TRUE(AcceptsGzip("*"));
  EXPECT_FALSE(AcceptsGzip(""));
  EXPECT_FALSE(AcceptsGzip("identity"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=0"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=0.000"));
  EXPECT_FALSE(AcceptsGzip("xgzip"));
}

}  // namespace
}  // namespace kumo::api
