#include "qga/qga_framer.h"

#include <gtest/gtest.h>

namespace kumo::qga {
namespace {

using Kind = FramedItem::Kind;

std::vector<FramedItem> FeedAll(QgaFramer& framer, std::initializer_list<std::string_view> chunks) {
  std::vector<FramedItem> out;
  for (auto chunk : chunks) framer.Feed(chunk, out);
  return out;
}

TEST(QgaFramer, TwoMessagesInOneWrite) {
  QgaFramer framer;
  auto items = FeedAll(framer, {R"({"execute":"a"}{"execute":"b"})"});
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].text, R"({"execute":"a"})");
  EXPECT_EQ(items[1].text, R"({"execute":"b"})");
}

TEST(QgaFramer, MessageSplitAcrossWrites) {
  QgaFramer framer;
  auto items = FeedAll(framer, {"{\"exec", "ute\":", "\"guest-ping\"", "}\n"});
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].kind, Kind::kMessage);
  EXPECT_EQ(items[0].text, R"({"execute":"guest-ping"})");
}

TEST(QgaFramer, BracesAndQuotesInsideStringsDoNotEndTheMessage) {
  QgaFramer framer;
  const std::string msg = R"({"a":"}{ \" \\","b":[1,{"c":"]"}]})";
  auto items = FeedAll(framer, {msg});
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].text, msg);
}

TEST(QgaFramer, ResyncByteDiscardsHalfReadMessage) {
  QgaFramer framer;
  auto items = FeedAll(framer, {"{\"execute\":\"gue", "\xff", R"({"execute":"x"})"});
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].text, R"({"execute":"x"})");
}

TEST(QgaFramer, GarbageGivesOneErrorThenRecoversAtNextObject) {
  QgaFramer framer;
  auto items = FeedAll(framer, {"garbage here", " more", R"({"execute":"x"})"});
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].kind, Kind::kError);
  EXPECT_EQ(items[1].kind, Kind::kMessage);
  EXPECT_EQ(items[1].text, R"({"execute":"x"})");
}

TEST(QgaFramer, OversizedMessageIsRejectedAndSkippedToItsEnd) {
  QgaFramer framer(64);
  std::string big = R"({"execute":"x","arguments":{"pad":")" + std::string(200, 'a') + "\"}}";
  auto items = FeedAll(framer, {big, R"({"execute":"after"})"});
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].kind, Kind::kError);
  EXPECT_NE(items[0].text.find("larger than 64"), std::string::npos);
  EXPECT_EQ(items[1].text, R"({"execute":"after"})");
  EXPECT_EQ(framer.buffered_bytes(), 0u);
}

TEST(QgaFramer, BufferNeverExceedsLimit) {
  QgaFramer framer(1024);
  std::vector<FramedItem> out;
  framer.Feed("{\"pad\":\"", out);
  for (int i = 0; i < 1000; ++i) {
    framer.Feed(std::string(100, 'x'), out);
    ASSERT_LE(framer.buffered_bytes(), 1025u);
  }
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Kind::kError);
}

TEST(QgaFramer, TooDeepNestingIsRejected) {
  QgaFramer framer;
  std::string deep(QgaFramer::kMaxNesting + 5, '[');
  deep += std::string(QgaFramer::kMaxNesting + 5, ']');
  auto items = FeedAll(framer, {deep, R"({"execute":"after"})"});
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].kind, Kind::kError);
  EXPECT_EQ(items[1].text, R"({"execute":"after"})");
}

}  // namespace
}  // namespace kumo::qga
