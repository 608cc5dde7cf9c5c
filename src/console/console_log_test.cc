// The console's on-disk record: tail, scrollback across the rotated file,
// and rotation.
#include "console/console_log.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

namespace kumo::console {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "kumo-console-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(TailLines, AsTailDashN) {
  struct Case {
    std::string text;
    size_t n;
    std::string want;
  };
  const Case cases[] = {
      {"", 3, ""},
      {"a\nb\nc\n", 0, "a\nb\nc\n"},
      {"a\nb\nc\n", 1, "c\n"},
      {"a\nb\nc\n", 2, "b\nc\n"},
      {"a\nb\nc\n", 3, "a\nb\nc\n"},
      {"a\nb\nc\n", 10, "a\nb\nc\n"},
      {"a\nb\nkumo login: ", 1, "kumo login: "},
      {"a\nb\nkumo login: ", 2, "b\nkumo login: "},
      {"one\r\ntwo\r\n", 1, "two\r\n"},
      {"\n\n\n", 2, "\n\n"},
      {"\n", 1, "\n"},
      {"no newline", 1, "no newline"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(TailLines(c.text, c.n), c.want) << "text: " << c.text << " n: " << c.n;
  }
}

TEST(ReadScrollback, MissingFilesAreEmpty) {
  TempDir dir;
  EXPECT_EQ(ReadScrollback(dir / "console.log"), "");
  EXPECT_EQ(ReadScrollback(dir / "console.log", 5), "");
}

TEST(ReadScrollback, RotatedThenCurrent) {
  TempDir dir;
  WriteFile(dir / "console.log.1", "old 1\nold 2\n");
  WriteFile(dir / "console.log", "new 1\nnew 2\nkumo login: ");
  EXPECT_EQ(ReadScrollback(dir / "console.log"), "old 1\nold 2\nnew 1\nnew 2\nkumo login: ");
  EXPECT_EQ(ReadScrollback(dir / "console.log", 2), "new 2\nkumo login: ");
  EXPECT_EQ(ReadScrollback(dir / "console.log", 4), "old 2\nnew 1\nnew 2\nkumo login: ");
  // Only the rotated part is there (just rotated, nothing new yet).
  WriteFile(dir / "console.log", "");
  EXPECT_EQ(ReadScrollback(dir / "console.log", 1), "old 2\n");
}

TEST(ReadScrollback, BoundedToTheNewestBytes) {
  TempDir dir;
  std::string older(kMaxScrollbackBytes, 'o');
  std::string newer(1000, 'n');
  WriteFile(dir / "console.log.1", older);
  WriteFile(dir / "console.log", newer);
  std::string text = ReadScrollback(dir / "console.log");
  ASSERT_EQ(text.size(), kMaxScrollbackBytes);
  EXPECT_EQ(text.substr(text.size() - newer.size()), newer);
}

TEST(RotateConsoleLog, OnlyPastTheLimit) {
  TempDir dir;
  bool rotated = true;
  EXPECT_TRUE(RotateConsoleLogIfLarger(dir / "console.log", 10, &rotated).ok());
  EXPECT_FALSE(rotated);  // no file yet: nothing to do
  WriteFile(dir / "console.log", "0123456789");
  EXPECT_TRUE(RotateConsoleLogIfLarger(dir / "console.log", 10, &rotated).ok());
  EXPECT_FALSE(rotated);
  EXPECT_FALSE(fs::exists(dir / "console.log.1"));

  WriteFile(dir / "console.log", "0123456789A");
  EXPECT_TRUE(RotateConsoleLogIfLarger(dir / "console.log", 10, &rotated).ok());
  EXPECT_TRUE(rotated);
  EXPECT_EQ(ReadFile(dir / "console.log.1"), "0123456789A");
  EXPECT_EQ(fs::file_size(dir / "console.log"), 0u);
  EXPECT_FALSE(fs::exists(dir / "console.log.1.tmp"));

  // The next rotation replaces console.log.1.
  WriteFile(dir / "console.log", "second rotation");
  EXPECT_TRUE(RotateConsoleLogIfLarger(dir / "console.log", 10, &rotated).ok());
  EXPECT_EQ(ReadFile(dir / "console.log.1"), "second rotation");
  EXPECT_EQ(ReadScrollback(dir / "console.log"), "second rotation");
}

TEST(RotateConsoleLog, AppendsGoOnAtTheNewEnd) {
  TempDir dir;
  // As QEMU holds it: opened once with O_APPEND, written after the rotation.
  std::ofstream qemu(dir / "console.log", std::ios::binary | std::ios::app);
  qemu << std::string(100, 'x') << std::flush;
  EXPECT_TRUE(RotateConsoleLogIfLarger(dir / "console.log", 50, nullptr).ok());
  qemu << "after" << std::flush;
  EXPECT_EQ(ReadFile(dir / "console.log"), "after");
  EXPECT_EQ(ReadScrollback(dir / "console.log"), std::string(100, 'x') + "after");
}

TEST(RotateConsoleLog, KeepsTheNewestPartOfAnOversizedLog) {
  TempDir dir;
  std::string text(kMaxRotatedBytes + 5000, 'a');
  text += "the end\n";
  WriteFile(dir / "console.log", text);
  EXPECT_TRUE(RotateConsoleLogIfLarger(dir / "console.log", kConsoleLogRotateBytes, nullptr).ok());
  std::string kept = ReadFile(dir / "console.log.1");
  EXPECT_EQ(kept.size(), kMaxRotatedBytes);
  EXPECT_EQ(kept, text.substr(text.size() - kMaxRotatedBytes));
}

}  // namespace
}  // namespace kumo::console
