#include "agent/qga_dispatcher.h"

#include <gtest/gtest.h>

namespace kumo::agent {
namespace {

class QgaDispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    d_.Add({"echo-int", {"id"}, [](const Arguments& a) {
              return CommandResult::Return(a.RequiredInt("id"));
            }});
    d_.Add({"guest-sync-delimited", {"id"}, [](const Arguments& a) {
              return CommandResult::Return(a.RequiredInt("id"));
            }});
    d_.Add({"quiet", {}, [](const Arguments&) { return CommandResult::None(); }, true, false});
    d_.Add({"off", {}, [](const Arguments&) { return CommandResult::Return(1); }});
    d_.Add({"fails", {}, [](const Arguments&) { return CommandResult::Error("it broke"); }});
    d_.Disable("off");
  }

  // Parses the reply; checks it ends with a newline and has no sentinel.
  json Reply(std::string_view message) {
    auto r = d_.Dispatch(message);
    EXPECT_TRUE(r.has_value());
    if (!r) return nullptr;
    EXPECT_EQ(r->bytes.back(), '\n');
    return json::parse(r->bytes);
  }

  void ExpectError(std::string_view message, const std::string& cls, const std::string& desc) {
    json r = Reply(message);
    EXPECT_EQ(r["error"]["class"], cls) << message;
    EXPECT_EQ(r["error"]["desc"], desc) << message;
  }

  QgaDispatcher d_;
};

TEST_F(QgaDispatcherTest, ReturnsValueAndEchoesId) {
  EXPECT_EQ(Reply(R"({"execute":"echo-int","arguments":{"id":7}})"), json({{"return", 7}}));
  EXPECT_EQ(Reply(R"({"execute":"echo-int","arguments":{"id":7},"id":"abc"})"),
            json({{"return", 7}, {"id", "abc"}}));
}

TEST_F(QgaDispatcherTest, SyncDelimitedReplyStartsWithSentinel) {
  auto r = d_.Dispatch(R"({"execute":"guest-sync-delimited","arguments":{"id":5}})");
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->bytes[0], '\xff');
  EXPECT_EQ(json::parse(r->bytes.substr(1)), json({{"return", 5}}));
}

TEST_F(QgaDispatcherTest, CommandWithoutSuccessResponseSendsNothing) {
  EXPECT_FALSE(d_.Dispatch(R"({"execute":"quiet"})").has_value());
}

TEST_F(QgaDispatcherTest, EnvelopeErrorsMatchQemuGa) {
  struct Case {
    const char* message;
    const char* cls;
    const char* desc;
  } cases[] = {
      {R"({"execute":"nope"})", "CommandNotFound", "The command nope has not been found"},
      {R"({"execute":"off"})", "CommandNotFound", "Command off has been disabled"},
      {R"({"execute":"echo-int","arguments":{}})", "GenericError", "Parameter 'id' is missing"},
      {R"({"execute":"echo-int","arguments":{"id":"x"}})", "GenericError",
       "Invalid parameter type for 'id', expected: integer"},
      {R"({"execute":"echo-int","arguments":{"id":1,"x":2}})", "GenericError",
       "Parameter 'x' is unexpected"},
      {R"({"execute":"echo-int","foo":1})", "GenericError", "QMP input member 'foo' is unexpected"},
      {R"({"execute":"echo-int","arguments":[]})", "GenericError",
       "QMP input member 'arguments' must be an object"},
      {R"([1,2])", "GenericError", "QMP input must be a JSON object"},
      {R"({"arguments":{}})", "GenericError", "QMP input lacks member 'execute'"},
      {R"({"execute":5})", "GenericError", "QMP input member 'execute' must be a string"},
      {R"({"execute": guest})", "GenericError", "JSON parse error, invalid JSON"},
      {R"({"execute":"fails"})", "GenericError", "it broke"},
  };
  for (const auto& c : cases) ExpectError(c.message, c.cls, c.desc);
}

TEST_F(QgaDispatcherTest, SupportedCommandsListsEnabledState) {
  json list = d_.SupportedCommands();
  bool saw_off = false, saw_quiet = false;
  for (const auto& c : list) {
    if (c["name"] == "off") saw_off = !c["enabled"].get<bool>();
    if (c["name"] == "quiet") saw_quiet = !c["success-response"].get<bool>();
  }
  EXPECT_TRUE(saw_off);
  EXPECT_TRUE(saw_quiet);
}

TEST_F(QgaDispatcherTest, WhileFrozenOnlyTheAllowListRuns) {
  d_.SetFrozen(true);
  json refused = Reply(R"({"execute":"echo-int","arguments":{"id":1}})");
  EXPECT_EQ(refused["error"]["class"], "CommandNotFound");
  EXPECT_EQ(refused["error"]["desc"],
            "Command echo-int has been disabled: the agent is in frozen state");
  d_.Add(
      {"guest-ping", {}, [](const Arguments&) { return CommandResult::Return(json::object()); }});
  EXPECT_EQ(Reply(R"({"execute":"guest-ping"})")["return"], json::object());
  for (const auto& c : d_.SupportedCommands()) {
    if (c["name"] == "echo-int") {
      EXPECT_FALSE(c["enabled"].get<bool>());
    }
  }
  d_.SetFrozen(false);
  EXPECT_EQ(Reply(R"({"execute":"echo-int","arguments":{"id":1}})")["return"], 1);
}

TEST_F(QgaDispatcherTest, InvalidUtf8InRepliesDoesNotBreakSerialisation) {
  d_.Add({"bad-utf8", {}, [](const Arguments&) { return CommandResult::Return("a\xc3\x28z"); }});
  json r = Reply(R"({"execute":"bad-utf8"})");
  ASSERT_TRUE(r["return"].is_string());
}

}  // namespace
}  // namespace kumo::agent
