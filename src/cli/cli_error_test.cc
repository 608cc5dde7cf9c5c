#include "cli/cli_error.h"

#include <gtest/gtest.h>

#include <sstream>

namespace kumo::cli {
namespace {

TEST(ExitCodeForHttpStatus, MapsTheDocumentedTable) {
  const std::pair<int, int> cases[] = {
      {200, kExitOk},           {201, kExitOk},       {202, kExitOk},       {400, kExitApiError},
      {401, kExitUnauthorized}, {404, kExitNotFound}, {405, kExitApiError}, {409, kExitConflict},
      {413, kExitApiError},     {500, kExitApiError}, {502, kExitApiError}, {0, kExitApiError},
  };
  for (const auto& [status, code] : cases) {
    EXPECT_EQ(ExitCodeForHttpStatus(status), code) << status;
  }
}

TEST(ExitCodes, AreDistinctAndDocumented) {
  const int codes[] = {kExitOk,       kExitApiError, kExitUsage,   kExitUnreachable,
                       kExitNotFound, kExitConflict, kExitTimeout, kExitUnauthorized};
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(codes[i], i);
    EXPECT_NE(std::string(kExitCodeHelp).find("  " + std::to_string(i) + "  "), std::string::npos);
  }
}

TEST(ErrorFromReply, TakesMessageAndHintFromTheApiError) {
  std::string body = R"({"error":{"code":"GuestAgentNotResponding","message":"the agent is down",)"
                     R"("hint":"use kumo stop --force web"}})";
  CliError e = ErrorFromReply(409, body, "http://h:1", "/s/token");
  EXPECT_EQ(e.exit_code, kExitConflict);
  EXPECT_EQ(e.message, "the agent is down");
  EXPECT_EQ(e.hint, "use kumo stop --force web");
  EXPECT_EQ(e.api_body, body);
}

TEST(ErrorFromReply, WithoutHint) {
  CliError e = ErrorFromReply(404, R"({"error":{"code":"NotFound","message":"no server"}})",
                              "http://h:1", "/s/token");
  EXPECT_EQ(e.exit_code, kExitNotFound);
  EXPECT_EQ(e.message, "no server");
  EXPECT_EQ(e.hint, "");
}

TEST(ErrorFromReply, UnauthorizedNamesTheTokenSource) {
  CliError e = ErrorFromReply(
      401, R"({"error":{"code":"Unauthorized","message":"a valid bearer token is required"}})",
      "http://h:1", "/var/lib/kumo/token");
  EXPECT_EQ(e.exit_code, kExitUnauthorized);
  EXPECT_NE(e.hint.find("/var/lib/kumo/token"), std::string::npos);
  EXPECT_NE(e.hint.find("KUMO_TOKEN"), std::string::npos);
  EXPECT_NE(e.hint.find("--state-dir"), std::string::npos);
}

TEST(ErrorFromReply, NotAnApiErrorNamesTheUrl) {
  for (const char* body : {"<html>bad gateway</html>\n", "", "[1]", R"({"error":"x"})"}) {
    CliError e = ErrorFromReply(502, body, "http://h:1", "t");
    EXPECT_EQ(e.exit_code, kExitApiError);
    EXPECT_NE(e.message.find("HTTP 502 from http://h:1"), std::string::npos) << body;
    EXPECT_TRUE(e.api_body.empty());
    EXPECT_FALSE(e.hint.empty());
  }
}

TEST(ErrorFromReply, SuccessStatusIsStillAnError) {
  EXPECT_EQ(ErrorFromReply(200, "{}", "u", "t").exit_code, kExitApiError);
}

TEST(PrintError, MessageAndHintOnStderrApiJsonOnStdoutInJsonMode) {
  CliError e{kExitConflict, "busy", "wait", R"({"error":{}})"};
  std::ostringstream out, err;
  EXPECT_EQ(PrintError(e, false, out, err), kExitConflict);
  EXPECT_EQ(out.str(), "");
  EXPECT_EQ(err.str(), "error: busy\nhint: wait\n");
  std::ostringstream out2, err2;
  PrintError(e, true, out2, err2);
  EXPECT_EQ(out2.str(), "{\"error\":{}}\n");
  CliError no_hint{kExitApiError, "boom", "", ""};
  std::ostringstream out3, err3;
  PrintError(no_hint, true, out3, err3);
  EXPECT_EQ(out3.str(), "");
  EXPECT_EQ(err3.str(), "error: boom\n");
}

}  // namespace
}  // namespace kumo::cli
