#include "cli/table.h"

#include <gtest/gtest.h>

namespace kumo::cli {
namespace {

TEST(FormatTable, AlignsColumnsAndLeavesNoTrailingBlanks) {
  std::string t =
      FormatTable({"NAME", "STATUS", "REASON"},
                  {{"web", "running", ""}, {"database-1", "warning (!)", "agent down"}});
  EXPECT_EQ(t,
            "NAME        STATUS       REASON\n"
            "web         running\n"
            "database-1  warning (!)  agent down\n");
}

TEST(FormatTable, HeaderOnlyWhenEmpty) { EXPECT_EQ(FormatTable({"A", "B"}, {}), "A  B\n"); }

TEST(FormatTable, RaggedRowsAndUtf8Widths) {
  std::string t = FormatTable({"A", "B"}, {{"雲雲"}, {"x", "y", "z"}});
  EXPECT_EQ(t,
            "A   B\n"
            "雲雲\n"
            "x   y  z\n");
}

TEST(FormatTable, ControlCharactersCannotBreakLinesOrDriveTheTerminal) {
  std::string t = FormatTable({"A"}, {{"evil\n\x1b[2Jrow\x7f"}});
  EXPECT_EQ(t, "A\nevil  [2Jrow\n");
}

TEST(FormatFields, AlignsValues) {
  EXPECT_EQ(FormatFields({{"name", "web"}, {"status_reason", "ok"}, {"x", ""}}),
            "name:          web\n"
            "status_reason: ok\n"
            "x:\n");
}

TEST(Printable, ReplacesControlCharacters) {
  EXPECT_EQ(Printable("a\tb\rc\0d"), "a b c");
  EXPECT_EQ(Printable(std::string("a\0b", 3)), "a b");
  EXPECT_EQ(Printable("日本"), "日本");
}

TEST(DisplayWidth, CountsCodePoints) {
  EXPECT_EQ(DisplayWidth(""), 0u);
  EXPECT_EQ(DisplayWidth("abc"), 3u);
  EXPECT_EQ(DisplayWidth("雲"), 1u);
}

TEST(FormatSeconds, Plain) {
  EXPECT_EQ(FormatSeconds(std::chrono::milliseconds(300000)), "300");
  EXPECT_EQ(FormatSeconds(std::chrono::milliseconds(500)), "0.5");
}

}  // namespace
}  // namespace kumo::cli
