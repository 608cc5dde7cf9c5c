#include "agent/guest_files.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/base64.h"

namespace kumo::agent {
namespace {

class GuestFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/guest-files-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    unlink((dir_ + "/f").c_str());
    rmdir(dir_.c_str());
  }
  std::string dir_;
  GuestFiles files_;
};

TEST_F(GuestFilesTest, WriteThenReadRoundTrips) {
  auto w = files_.Open(dir_ + "/f", "w");
  ASSERT_TRUE(w.ok) << w.error;
  EXPECT_EQ(w.value, 1000);
  auto wrote = files_.Write(w.value.get<int64_t>(), "hello world", 5);
  ASSERT_TRUE(wrote.ok) << wrote.error;
  EXPECT_EQ(wrote.value, nlohmann::json({{"count", 5}, {"eof", false}}));
  ASSERT_TRUE(files_.Close(w.value.get<int64_t>()).ok);

  auto r = files_.Open(dir_ + "/f", "r");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.value, 1001);
  auto first = files_.Read(r.value.get<int64_t>(), 3);
  EXPECT_EQ(first.value, nlohmann::json({{"count", 3}, {"buf-b64", "aGVs"}, {"eof", false}}));
  auto rest = files_.Read(r.value.get<int64_t>(), 100);
  EXPECT_EQ(Base64Decode(rest.value["buf-b64"].get<std::string>()), "lo");
  EXPECT_EQ(rest.value["eof"], true);
}

TEST_F(GuestFilesTest, ErrorsUseQemuGaWording) {
  EXPECT_EQ(files_.Open(dir_ + "/f", "x").error, "invalid file open mode 'x'");
  EXPECT_EQ(files_.Open("/nonexistent/f", "r").error,
            "failed to open file '/nonexistent/f' (mode: 'r'): No such file or directory");
  EXPECT_EQ(files_.Read(999, 1).error, "handle '999' has not been found");
  auto w = files_.Open(dir_ + "/f", "w");
  int64_t h = w.value.get<int64_t>();
  EXPECT_EQ(files_.Write(h, "abc", 4).error, "value '4' is invalid for argument count");
  EXPECT_EQ(files_.Read(h, -1).error, "value '-1' is invalid for argument count");
  EXPECT_EQ(files_.Read(h, 49 * 1024 * 1024).error,
            "value '51380224' is invalid for argument count");
  EXPECT_EQ(files_.Read(h, 10).error, "failed to read file: Bad file descriptor");
  EXPECT_EQ(files_.Seek(h, 0, "bad").error, "Parameter 'whence' does not accept value 'bad'");
  EXPECT_EQ(files_.Seek(h, 0, 7).error, "invalid whence code 7");
  ASSERT_TRUE(files_.Close(h).ok);
  EXPECT_EQ(files_.Close(h).error, "handle '" + std::to_string(h) + "' has not been found");
}

TEST_F(GuestFilesTest, OneReadReturnsAtMostTheCap) {
  auto w = files_.Open(dir_ + "/f", "w+");
  int64_t h = w.value.get<int64_t>();
  std::string big(GuestFiles::kMaxReadBytes + 100, 'x');
  ASSERT_EQ(files_.Write(h, big, int64_t(big.size())).value["count"], big.size());
  ASSERT_EQ(files_.Seek(h, 0, "set").value["position"], 0);
  auto r = files_.Read(h, 1 << 20);
  EXPECT_EQ(r.value["count"], GuestFiles::kMaxReadBytes);
  EXPECT_EQ(r.value["eof"], false);
  auto rest = files_.Read(h, 1 << 20);
  EXPECT_EQ(rest.value["count"], 100);
  EXPECT_EQ(rest.value["eof"], true);
}

TEST_F(GuestFilesTest, OpenHandlesAreBounded) {
  std::vector<int64_t> handles;
  for (size_t i = 0; i < GuestFiles::kMaxHandles; ++i) {
    auto r = files_.Open("/dev/null", "r");
    ASSERT_TRUE(r.ok) << r.error;
    handles.push_back(r.value.get<int64_t>());
  }
  auto refused = files_.Open("/dev/null", "r");
  EXPECT_FALSE(refused.ok);
  EXPECT_NE(refused.error.find("too many open files"), std::string::npos);
  ASSERT_TRUE(files_.Close(handles[0]).ok);
  EXPECT_TRUE(files_.Open("/dev/null", "r").ok);
}

TEST(GuestFileModes, AcceptQemuGaModesOnly) {
  for (const char* mode : {"r", "rb", "w", "wb", "a", "ab", "r+", "rb+", "r+b", "w+", "wb+", "w+b",
                           "a+", "ab+", "a+b"}) {
    EXPECT_GE(GuestFiles::FlagsForMode(mode), 0) << mode;
  }
  for (const char* mode : {"", "x", "rw", "b", "r+x", "R"}) {
    EXPECT_EQ(GuestFiles::FlagsForMode(mode), -1) << mode;
  }
}

}  // namespace
}  // namespace kumo::agent
