#include "telemetry/guest_text.h"

#include <gtest/gtest.h>

namespace kumo::telemetry {
namespace {

TEST(GuestText, BoundedTextStripsControlsRepairsUtf8AndCutsAtACharacter) {
  struct Case {
    std::string in;
    size_t max;
    std::string want;
  };
  const Case cases[] = {
      {"sshd", 64, "sshd"},
      {"ss\nhd\t\x1b[31m\x7f", 64, "sshd[31m"},
      {"\xc2\x85x", 64, "x"},  // C1 control (NEL) stripped
      {"a\xff"
       "b",
       64,
       "a\xEF\xBF\xBD"
       "b"},                                                         // a stray byte becomes U+FFFD
      {"\xc0\xaf", 64, "\xEF\xBF\xBD\xEF\xBF\xBD"},                  // overlong '/': not a '/'
      {"\xed\xa0\x80", 64, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},  // a surrogate
      {"ab\xe3\x81\x82", 4, "ab"},                                   // no half of あ
      {"ab\xe3\x81\x82", 5, "ab\xe3\x81\x82"},
      {"", 8, ""},
  };
  for (const auto& c : cases) EXPECT_EQ(BoundedText(c.in, c.max), c.want) << c.in;
}

TEST(GuestText, AHugeTextCostsOnlyItsBound) {
  std::string huge(1 << 20, 'x');
  EXPECT_EQ(BoundedText(huge, 64), std::string(64, 'x'));
  std::string controls(1 << 20, '\x01');
  EXPECT_EQ(BoundedText(controls + "sshd", 64), "");
}

TEST(GuestText, ValidUtf8KeepsGoodTextAndControls) {
  EXPECT_EQ(ValidUtf8("caf\xc3\xa9\n"), "caf\xc3\xa9\n");
  EXPECT_EQ(ValidUtf8("\xe3\x81"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // cut short
}

}  // namespace
}  // namespace kumo::telemetry
