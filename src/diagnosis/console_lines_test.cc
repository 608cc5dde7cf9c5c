#include "diagnosis/console_lines.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kumo::diagnosis {
namespace {

using namespace std::literals;
using Lines = std::vector<std::string>;

Lines Split(ConsoleLineSplitter& splitter, std::string_view bytes) {
  Lines lines;
  splitter.Feed(bytes, [&](std::string_view line) { lines.emplace_back(line); });
  return lines;
}

Lines Split(std::string_view bytes) {
  ConsoleLineSplitter splitter;
  return Split(splitter, bytes);
}

Lines SplitByteByByte(std::string_view bytes) {
  ConsoleLineSplitter splitter;
  Lines lines;
  for (char c : bytes) {
    splitter.Feed(std::string_view(&c, 1),
                  [&](std::string_view line) { lines.emplace_back(line); });
  }
  return lines;
}

Lines SplitInTwo(std::string_view bytes, size_t cut) {
  ConsoleLineSplitter splitter;
  Lines lines = Split(splitter, bytes.substr(0, cut));
  for (std::string& line : Split(splitter, bytes.substr(cut))) lines.push_back(std::move(line));
  return lines;
}

bool IsValidUtf8WithoutControls(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) return false;
    size_t n = c < 0x80 ? 1 : c >= 0xC2 && c < 0xE0 ? 2 : c >= 0xE0 && c < 0xF0 ? 3 : 4;
    if (c >= 0x80 && (c < 0xC2 || c > 0xF4)) return false;
    if (i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

TEST(ConsoleLineSplitter, EndsLinesAtCrLfCrAndLf) {
  EXPECT_EQ(Split("one\r\ntwo\nthree\rfour\n\n\r\n"), (Lines{"one", "two", "three", "four"}));
}

TEST(ConsoleLineSplitter, GivesOneLinePerProgressBarRedraw) {
  // e2fsck -C 0 redraws its bar after a \r, and wipes it with \r, 80 spaces, \r.
  std::string bar1 = "/dev/vda: |==" + std::string(51, ' ') + "-  3.4%";
  std::string bar2 = "/dev/vda: |=======" + std::string(46, ' ') + "\\ 12.0%";
  std::string summary = "/dev/vda: 11/65536 files (0.0% non-contiguous), 8000/262144 blocks";
  std::string bytes =
      bar1 + "  \r" + bar2 + "  \r\r" + std::string(80, ' ') + "\r" + summary + "\r\n";
  EXPECT_EQ(Split(bytes), (Lines{bar1, bar2, summary}));
}

TEST(ConsoleLineSplitter, RemovesSystemdColoursAndOtherEscapes) {
  EXPECT_EQ(Split("[\x1b[0;32m  OK  \x1b[0m] Finished \x1b[0;1;39msystemd-fsck-root.service\x1b[0m"
                  " - File System Check on Root Device.\r\n"),
            (Lines{"[  OK  ] Finished systemd-fsck-root.service - File System Check on Root "
                   "Device."}));
  // OSC window titles (ended by BEL or ESC \), charset designation, keypad
  // mode, cursor hiding, and a DCS string.
  EXPECT_EQ(Split("\x1b]0;root@kumo: ~\x07\x1b(Bro\x1b=ot\x1b[?25l@kumo\x1b]2;t\x1b\\:~#"
                  "\x1bPq#0;2;0;0;0\x1b\\ ls\n"),
            (Lines{"root@kumo:~# ls"}));
}

TEST(ConsoleLineSplitter, DropsControlCharactersAndTurnsTabsIntoSpaces) {
  // NUL, BEL, DEL, SOH, backspace, and U+0085 (a C1 control in UTF-8).
  EXPECT_EQ(Split("a\0b\x07"
                  "c\x7f"
                  "d\te\x01\x08"
                  "f\xc2\x85g\n"sv),
            (Lines{"abcd efg"}));
  EXPECT_EQ(Split("\0\0\0\n\x07\n"sv), Lines{});
}

TEST(ConsoleLineSplitter, ReplacesInvalidUtf8) {
  Lines lines = Split(
      "caf\xc3\xa9 \xff \xc3( \xe2\x82 \xed\xa0\x80 \xc0\xaf \xf4\x90\x80\x80 \xf0\x9f\x98\x80\n"
      "\xe2\x82\n"
      "\xe0\x80\xaf \xf0\x80\x80\xaf \xe0\xa0\x80 \xed\x9f\xbf\n");
  ASSERT_EQ(lines.size(), 3u);
  // One '?' per maximal invalid subsequence (Unicode's recommendation): a
  // surrogate (ED A0 80), an overlong '/' (C0 AF) and a code point above
  // U+10FFFF are invalid byte by byte; a cut sequence (E2 82) is one '?'.
  EXPECT_EQ(lines[0], "caf\xc3\xa9 ? ?( ? ??? ?? ???? \xf0\x9f\x98\x80");
  EXPECT_EQ(lines[1], "?");
  // Overlong 3- and 4-byte forms are invalid; the smallest valid ones and the
  // last code point before the surrogates are kept.
  EXPECT_EQ(lines[2], "??? ???? \xe0\xa0\x80 \xed\x9f\xbf");
  for (const std::string& line : lines) EXPECT_TRUE(IsValidUtf8WithoutControls(line)) << line;
}

// A boot log as the serial console carries it: colours, \r\n, a progress bar,
// UTF-8, a bad byte, a title escape.
constexpr std::string_view kSample =
    "\x1b[?7l\x1b[2J[    0.000000] Linux version 6.1.0-28-cloud-amd64 (debian-kernel@lists."
    "debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0) #1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1\r\n"
    "Begin: Will now check root file system ... fsck from util-linux 2.38.1\r\n"
    "/dev/vda: |=====                                               / 34.5%  \r"
    "/dev/vda: |=========================================================| 100.0%  \r\n"
    "[\x1b[0;32m  OK  \x1b[0m] Finished \x1b[0;1;39msystemd-fsck-root.service\x1b[0m.\r\n"
    "\x1b]0;kumo\x07kumo login: [   41.912245] Out of memory: Killed process 212 (dropbear) "
    "total-vm:4372kB, anon-rss:1024kB, file-rss:2816kB, shmem-rss:256kB, UID:0\r\n"
    "\t\xe3\x83\xad\xe3\x82\xb0 \xff\x00 end\r\n"sv;

TEST(ConsoleLineSplitter, GivesTheSameLinesHoweverTheStreamIsCut) {
  Lines whole = Split(kSample);
  ASSERT_EQ(whole.size(), 7u);
  EXPECT_EQ(whole[4], "[  OK  ] Finished systemd-fsck-root.service.");
  EXPECT_EQ(whole[6], " \xe3\x83\xad\xe3\x82\xb0 ? end");
  EXPECT_EQ(SplitByteByByte(kSample), whole);
  for (size_t cut = 0; cut <= kSample.size(); ++cut) {
    ASSERT_EQ(SplitInTwo(kSample, cut), whole) << "cut at " << cut;
  }
}

TEST(ConsoleLineSplitter, CutsAnOverlongLineAndDropsItsRest) {
  ConsoleLineSplitter splitter;
  Lines lines;
  auto sink = [&](std::string_view line) { lines.emplace_back(line); };
  std::string chunk(4096, 'x');
  for (int i = 0; i < 256; ++i) {  // 1 MiB, no newline
    splitter.Feed(chunk, sink);
    ASSERT_LE(splitter.Pending().size(), kMaxConsoleLine);
  }
  ASSERT_EQ(lines.size(), 1u);  // reported once it is full, not held back
  EXPECT_EQ(lines[0], std::string(kMaxConsoleLine, 'x'));
  splitter.Feed("still the same line\nnext\n", sink);
  EXPECT_EQ(lines, (Lines{std::string(kMaxConsoleLine, 'x'), "next"}));
}

TEST(ConsoleLineSplitter, ReportsAFullLineWithoutWaitingForItsEnd) {
  ConsoleLineSplitter splitter;
  EXPECT_EQ(Split(splitter, std::string(kMaxConsoleLine, 'x')),
            Lines{std::string(kMaxConsoleLine, 'x')});
  EXPECT_EQ(Split(splitter, "\nnext\n"), Lines{"next"});
}

TEST(ConsoleLineSplitter, NeverCutsACharacterInTwo) {
  Lines lines = Split(std::string(kMaxConsoleLine - 1, 'x') + "\xc3\xa9 and more\nnext\n");
  EXPECT_EQ(lines, (Lines{std::string(kMaxConsoleLine - 1, 'x'), "next"}));
}

TEST(ConsoleLineSplitter, GivesUpAnEscapeSequenceThatNeverEnds) {
  // A CSI whose parameters never end: after kMaxEscape bytes the rest is text.
  Lines lines = Split("\x1b[" + std::string(1 << 20, '1') + "\nafter\n");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], std::string(kMaxConsoleLine, '1'));
  EXPECT_EQ(lines[1], "after");
  // An OSC string without BEL or ST: bounded likewise, and a newline ends it.
  EXPECT_EQ(Split("\x1b]0;" + std::string(100, 'a') + "b\nafter\n"),
            (Lines{std::string(100 + 4 - kMaxEscape, 'a') + "b", "after"}));
  EXPECT_EQ(Split("\x1b]0;title\nvisible\n"), (Lines{"visible"}));
  // A newline inside a CSI ends the line; an ESC starts a new sequence.
  EXPECT_EQ(Split("a\x1b[1\nb\x1b[\x1b[31mc\n"), (Lines{"a", "bc"}));
}

TEST(ConsoleLineSplitter, ResetForgetsThePartialLineAndEscape) {
  ConsoleLineSplitter splitter;
  EXPECT_EQ(Split(splitter, "half a li"), Lines{});
  EXPECT_EQ(splitter.Pending(), "half a li");
  splitter.Reset();
  EXPECT_EQ(Split(splitter, "new boot\n"), Lines{"new boot"});
  Split(splitter, "\x1b[0;3");
  splitter.Reset();
  EXPECT_EQ(Split(splitter, "1m visible\n"), Lines{"1m visible"});
  Split(splitter, "\xe3\x83");
  splitter.Reset();
  EXPECT_EQ(Split(splitter,
                  "\xad"
                  "a\n"),
            Lines{"?a"});
}

TEST(ConsoleLineSplitter, ShowsAPromptWaitingForInput) {
  ConsoleLineSplitter splitter;
  EXPECT_EQ(Split(splitter, "Enter 'help' for a list of built-in commands.\r\n\r\n(initramfs) "),
            Lines{"Enter 'help' for a list of built-in commands."});
  EXPECT_EQ(splitter.Pending(), "(initramfs) ");
}

}  // namespace
}  // namespace kumo::diagnosis
