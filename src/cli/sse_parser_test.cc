#include "cli/sse_parser.h"

#include <gtest/gtest.h>

namespace kumo::cli {
namespace {

// "event|id|data" for each message, ids shown as "-" when absent.
std::vector<std::string> Summaries(const std::vector<SseMessage>& messages) {
  std::vector<std::string> out;
  for (const auto& m : messages) out.push_back(m.event + "|" + m.id.value_or("-") + "|" + m.data);
  return out;
}

std::vector<std::string> ParseWhole(const std::string& stream) {
  SseParser parser;
  std::vector<SseMessage> out;
  EXPECT_TRUE(parser.Feed(stream, &out)) << parser.error();
  return Summaries(out);
}

struct Case {
  const char* name;
  std::string stream;
  std::vector<std::string> want;
};

TEST(SseParser, Table) {
  const Case cases[] = {
      {"one message", "data: hello\n\n", {"message|-|hello"}},
      {"event and id", "id: 7\nevent: server\ndata: {}\n\n", {"server|7|{}"}},
      {"data lines join with newline", "data: a\ndata: b\ndata:\n\n", {"message|-|a\nb\n"}},
      {"only one space is dropped", "data:  two\ndata:none\n\n", {"message|-| two\nnone"}},
      {"comments are skipped", ": keep-alive\ndata: x\n: more\n\n", {"message|-|x"}},
      {"retry alone dispatches nothing", "retry: 1000\n\n", {}},
      {"no data, no message", "event: server\nid: 3\n\n", {}},
      {"unfinished message is held", "data: x\n", {}},
      {"CRLF", "id: 1\r\nevent: server\r\ndata: a\r\ndata: b\r\n\r\n", {"server|1|a\nb"}},
      {"CR alone", "data: a\rdata: b\r\r", {"message|-|a\nb"}},
      {"field without colon", "data\n\n", {"message|-|"}},
      {"unknown field ignored", "foo: bar\ndata: x\n\n", {"message|-|x"}},
      {"event resets per message",
       "event: dropped\ndata: a\n\ndata: b\n\n",
       {"dropped|-|a", "message|-|b"}},
      {"two messages", "id: 1\ndata: a\n\nid: 2\ndata: b\n\n", {"message|1|a", "message|2|b"}},
      {"leading BOM dropped",
       "\xEF\xBB\xBF"
       "data: x\n\n",
       {"message|-|x"}},
      {"blank lines between messages", "\n\n\ndata: x\n\n\n", {"message|-|x"}},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ParseWhole(c.stream), c.want) << c.name;
  }
}

TEST(SseParser, AnySplitIntoChunksGivesTheSameMessages) {
  const std::string stream =
      "retry: 1000\r\n\r\n: keep-alive\r\nid: 41\r\nevent: server\r\ndata: {\"a\":\r\n"
      "data: 1}\r\n\r\nevent: dropped\rdata: slow\r\rid: 42\ndata: x\n\n";
  const std::vector<std::string> want = {"server|41|{\"a\":\n1}", "dropped|-|slow", "message|42|x"};
  ASSERT_EQ(ParseWhole(stream), want);
  // Every split into two chunks, and one byte at a time.
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    SseParser parser;
    std::vector<SseMessage> out;
    ASSERT_TRUE(parser.Feed(stream.substr(0, cut), &out));
    ASSERT_TRUE(parser.Feed(stream.substr(cut), &out));
    EXPECT_EQ(Summaries(out), want) << "cut at " << cut;
  }
  SseParser parser;
  std::vector<SseMessage> out;
  for (char c : stream) ASSERT_TRUE(parser.Feed(std::string(1, c), &out));
  EXPECT_EQ(Summaries(out), want);
  EXPECT_EQ(parser.last_event_id(), "42");
  EXPECT_EQ(parser.retry_ms(), 1000);
}

TEST(SseParser, RetryTakesOnlyDigits) {
  SseParser parser;
  std::vector<SseMessage> out;
  EXPECT_FALSE(parser.retry_ms().has_value());
  parser.Feed("retry: 250\n", &out);
  EXPECT_EQ(parser.retry_ms(), 250);
  parser.Feed("retry: soon\nretry: -1\nretry: 99999999999999999999\n", &out);
  EXPECT_EQ(parser.retry_ms(), 250);
}

TEST(SseParser, LastEventIdOutlivesMessagesWithoutOne) {
  SseParser parser;
  std::vector<SseMessage> out;
  parser.Feed("id: 5\ndata: a\n\ndata: b\n\n", &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].id, std::nullopt);
  EXPECT_EQ(parser.last_event_id(), "5");
}

TEST(SseParser, ALineLongerThanTheLimitStopsIt) {
  SseParser parser({/*max_line=*/16, /*max_message=*/1024});
  std::vector<SseMessage> out;
  EXPECT_TRUE(parser.Feed("data: 0123456789", &out));  // 16 bytes, no end yet
  EXPECT_FALSE(parser.Feed("X", &out));                // the 17th, still no end
  EXPECT_NE(parser.error().find("longer than 16 bytes"), std::string::npos);
  EXPECT_FALSE(parser.Feed("\n\ndata: ok\n\n", &out));  // stays stopped
  EXPECT_TRUE(out.empty());
}

TEST(SseParser, AMessageLongerThanTheLimitStopsIt) {
  SseParser parser({/*max_line=*/64, /*max_message=*/20});
  std::vector<SseMessage> out;
  EXPECT_TRUE(parser.Feed("data: 0123456789\n", &out));  // 11 bytes of data
  EXPECT_FALSE(parser.Feed("data: 0123456789\n", &out));
  EXPECT_NE(parser.error().find("message"), std::string::npos);
  EXPECT_TRUE(out.empty());
}

TEST(SseParser, AnEndlessStreamOfDataLinesIsRefusedNotStored) {
  SseParser parser;
  std::vector<SseMessage> out;
  const std::string line = "data: " + std::string(1000, 'x') + "\n";
  bool ok = true;
  size_t fed = 0;
  while (ok && fed < 64u * 1024 * 1024) {
    ok = parser.Feed(line, &out);
    fed += line.size();
  }
  EXPECT_FALSE(ok);
  // Refused once the data (1001 of each line's 1007 bytes) passed the bound.
  EXPECT_LT(fed, SseParser::Limits{}.max_message * 11 / 10);
}

}  // namespace
}  // namespace kumo::cli
