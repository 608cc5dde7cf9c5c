#include "qga/qga_framer.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace kumo::qga {
namespace {

using Kind = FramedItem::Kind;

// What a framer holding nothing has allocated: a string's inline capacity.
const size_t kEmptyCapacity = std::string().capacity();

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
    ASSERT_LE(framer.buffered_bytes(), 1024u);
    ASSERT_LE(framer.capacity_bytes(), 1024u);
  }
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Kind::kError);
}

// A 4 MiB message against a 64 KiB limit, in reads of 64 KiB: one error, the
// rest dropped unread, the next message served, and never more than the
// limit held (growth by doubling must not overshoot it).
TEST(QgaFramer, OversizedMessageIsDiscardedWithinTheLimit) {
  constexpr size_t kLimit = 64 * 1024;
  QgaFramer framer(kLimit);
  std::vector<FramedItem> out;
  framer.Feed(R"({"execute":"guest-ping","arguments":{"pad":")", out);
  const std::string chunk(64 * 1024, 'a');
  size_t peak = 0;
  for (int i = 0; i < 64; ++i) {
    framer.Feed(chunk, out);
    peak = std::max(peak, framer.capacity_bytes());
  }
  framer.Feed("\"}}\n{\"execute\":\"after\"}", out);
  EXPECT_LE(peak, kLimit);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].kind, Kind::kError);
  EXPECT_NE(out[0].text.find("larger than 65536 bytes"), std::string::npos) << out[0].text;
  EXPECT_EQ(out[1].kind, Kind::kMessage);
  EXPECT_EQ(out[1].text, R"({"execute":"after"})");
  EXPECT_EQ(framer.capacity_bytes(), kEmptyCapacity);
}

// The limit is the largest message served: one byte more is refused, even
// when that byte is the message's last.
TEST(QgaFramer, MessageOfExactlyTheLimitIsServedOneByteMoreIsRefused) {
  const std::string head = R"({"pad":")", tail = "\"}";
  const std::string fits = head + std::string(100 - head.size() - tail.size(), 'x') + tail;
  ASSERT_EQ(fits.size(), 100u);
  QgaFramer framer(100);
  auto items = FeedAll(framer, {fits, head + std::string(91, 'x') + tail, R"({"a":1})"});
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].kind, Kind::kMessage);
  EXPECT_EQ(items[0].text, fits);
  EXPECT_EQ(items[1].kind, Kind::kError);
  EXPECT_EQ(items[2].text, R"({"a":1})");
}

// A large message that was allowed leaves no high-water mark behind: the
// buffer is released once the message is handed out, and after a
// resync discards a half-read one.
TEST(QgaFramer, CapacityShrinksBackAfterALargeMessage) {
  QgaFramer framer;
  const std::string large = R"({"pad":")" + std::string(200 * 1024, 'x') + "\"}";
  auto items = FeedAll(framer, {large.substr(0, 100000), large.substr(100000), R"({"a":1})"});
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].text, large);
  EXPECT_EQ(framer.capacity_bytes(), kEmptyCapacity);

  items = FeedAll(framer, {large.substr(0, 150000), "\xff", R"({"b":2})"});
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].text, R"({"b":2})");
  EXPECT_EQ(framer.capacity_bytes(), kEmptyCapacity);
}

// The sink form hands each item over as it is framed, in order, without
// collecting a whole read's worth of messages first.
TEST(QgaFramer, SinkGetsEachItemInOrder) {
  QgaFramer framer;
  std::vector<std::pair<Kind, std::string>> seen;
  framer.Feed(R"({"a":1} x {"b":2})",
              [&](Kind kind, std::string_view text) { seen.emplace_back(kind, text); });
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], std::make_pair(Kind::kMessage, std::string(R"({"a":1})")));
  EXPECT_EQ(seen[1].first, Kind::kError);
  EXPECT_EQ(seen[2], std::make_pair(Kind::kMessage, std::string(R"({"b":2})")));
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
