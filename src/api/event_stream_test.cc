// FormatSse: the wire form of Server-Sent Events messages, table-driven.
#include "api/event_stream.h"

#include <gtest/gtest.h>

namespace kumo::api {
namespace {

TEST(FormatSse, Table) {
  struct Case {
    const char* what;
    SseMessage message;
    std::string wire;
  };
  const Case cases[] = {
      {"data only", {"", "", "hello"}, "data: hello\n\n"},
      {"id, event, data in that order",
       {"7", "server", "{\"a\":1}"},
       "id: 7\nevent: server\ndata: {\"a\":1}\n\n"},
      {"empty data still dispatches", {"", "", ""}, "data: \n\n"},
      {"one data line per line", {"", "", "a\nb\nc"}, "data: a\ndata: b\ndata: c\n\n"},
      {"CRLF ends a line once", {"", "", "a\r\nb"}, "data: a\ndata: b\n\n"},
      {"a lone CR ends a line", {"", "", "a\rb"}, "data: a\ndata: b\n\n"},
      {"CR CR is two line ends", {"", "", "a\r\rb"}, "data: a\ndata: \ndata: b\n\n"},
      {"a trailing line end gives an empty last line", {"", "", "a\n"}, "data: a\ndata: \n\n"},
      {"blank lines inside data cannot end the message",
       {"", "", "a\n\nb"},
       "data: a\ndata: \ndata: b\n\n"},
      {"leading spaces survive (one space follows the colon)", {"", "", "  x"}, "data:   x\n\n"},
      {"a line end in the id is removed",
       {"1\n\nevent: evil", "", "x"},
       "id: 1event: evil\ndata: x\n\n"},
      {"CR in the id is removed", {"1\r2", "", "x"}, "id: 12\ndata: x\n\n"},
      {"NUL in the id is removed", {std::string("4\0002", 3), "", "x"}, "id: 42\ndata: x\n\n"},
      {"a line end in the event is removed",
       {"", "a\r\ndata: injected", "x"},
       "event: adata: injected\ndata: x\n\n"},
      {"an id of line ends only is no id", {"\r\n", "", "x"}, "data: x\n\n"},
      {"an event of line ends only is no event", {"", "\n", "x"}, "data: x\n\n"},
      {"a colon in data needs nothing", {"", "", ": not a comment"}, "data: : not a comment\n\n"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(FormatSse(c.message), c.wire) << c.what;
  }
}

}  // namespace
}  // namespace kumo::api
