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

// QEMU appends to the log as it sends to the broker; the rotator counts
// what the broker read instead of opening the file for every chunk.
TEST(ConsoleLogRotator, CountsInMemoryAndRotatesAtTheBound) {
  TempDir dir;
  std::string path = dir / "console.log";
  std::ofstream qemu(path, std::ios::binary | std::ios::app);
  qemu << std::string(100, 'b') << std::flush;  // the boot, before the broker
  ConsoleLogRotator log(path, 1000);
  ASSERT_TRUE(log.Check().ok());
  EXPECT_EQ(log.counted_size(), 100u);
  EXPECT_EQ(log.file_checks(), 1u);

  // 900 more bytes in 90 chunks: counted, the file is never opened.
  for (int i = 0; i < 90; ++i) {
    qemu << std::string(10, 'x') << std::flush;
    ASSERT_TRUE(log.Appended(10).ok());
  }
  EXPECT_EQ(log.counted_size(), 1000u);
  EXPECT_EQ(log.file_checks(), 1u);
  EXPECT_EQ(log.rotations(), 0u);

  // One byte past the bound: the file is looked at and rotated.
  qemu << "y" << std::flush;
  ASSERT_TRUE(log.Appended(1).ok());
  EXPECT_EQ(log.file_checks(), 2u);
  EXPECT_EQ(log.rotations(), 1u);
  EXPECT_EQ(log.counted_size(), 0u);
  EXPECT_EQ(fs::file_size(path), 0u);
  EXPECT_EQ(fs::file_size(path + ".1"), 1001u);
  qemu << "after" << std::flush;
  ASSERT_TRUE(log.Appended(5).ok());
  EXPECT_EQ(ReadScrollback(path), std::string(100, 'b') + std::string(900, 'x') + "yafter");
}

TEST(ConsoleLogRotator, ACountAheadOfTheFileIsCorrectedNotRotated) {
  TempDir dir;
  std::string path = dir / "console.log";
  WriteFile(path, std::string(600, 'a'));
  ConsoleLogRotator log(path, 1000);
  // Counted twice (say, bytes read again after a reconnect): past the bound
  // by the count, but the file is not, so it stays and the count follows it.
  ASSERT_TRUE(log.Appended(1200).ok());
  EXPECT_EQ(log.file_checks(), 1u);
  EXPECT_EQ(log.rotations(), 0u);
  EXPECT_EQ(log.counted_size(), 600u);
  EXPECT_FALSE(fs::exists(path + ".1"));
}

TEST(ConsoleLogRotator, CheckSeesWhatQemuLoggedWithNoReader) {
  TempDir dir;
  std::string path = dir / "console.log";
  ConsoleLogRotator log(path, 1000);
  ASSERT_TRUE(log.Check().ok());  // no file yet
  EXPECT_EQ(log.counted_size(), 0u);
  WriteFile(path, std::string(1500, 'n'));  // logged while no client was connected
  ASSERT_TRUE(log.Check().ok());
  EXPECT_EQ(log.rotations(), 1u);
  EXPECT_EQ(fs::file_size(path + ".1"), 1500u);
}

}  // namespace
}  // namespace kumo::console
