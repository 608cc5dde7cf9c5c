#include "cli/api_url.h"

#include <gtest/gtest.h>

namespace kumo::cli {
namespace {

struct GoodCase {
  const char* text;
  const char* host;
  int port;
  const char* base_path;
  const char* authority;
};

TEST(ParseApiUrl, AcceptsHttpUrls) {
  const GoodCase cases[] = {
      {"http://127.0.0.1:8470", "127.0.0.1", 8470, "", "127.0.0.1:8470"},
      {"http://127.0.0.1:8470/", "127.0.0.1", 8470, "", "127.0.0.1:8470"},
      {"HTTP://localhost:1", "localhost", 1, "", "localhost:1"},
      {"http://kumo.example", "kumo.example", 80, "", "kumo.example:80"},
      {"http://[::1]:8470", "::1", 8470, "", "[::1]:8470"},
      {"http://[::1]", "::1", 80, "", "[::1]:80"},
      {"http://host:65535/kumo//", "host", 65535, "/kumo", "host:65535"},
      {"http://my_host:8470/a/b", "my_host", 8470, "/a/b", "my_host:8470"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto url = ParseApiUrl(c.text);
    ASSERT_TRUE(url.ok()) << url.error().message;
    EXPECT_EQ(url->host, c.host);
    EXPECT_EQ(url->port, c.port);
    EXPECT_EQ(url->base_path, c.base_path);
    EXPECT_EQ(url->Authority(), c.authority);
  }
}

TEST(ParseApiUrl, RefusesEverythingElseAsUsageError) {
  const char* bad[] = {
      "127.0.0.1:8470",          // no scheme
      "https://127.0.0.1:8470",  // TLS is not served
      "unix:///run/kumo.sock",   // no scheme://
      "ftp://host",
      "http://",
      "http://:8470",
      "http://host:",
      "http://host:0",
      "http://host:65536",
      "http://host:80x",
      "http://host:123456",
      "http://user:pw@host:8470",
      "http://host:8470/?x=1",
      "http://host:8470/#frag",
      "http://::1:8470",
      "http://[::1:8470",
      "http://[::1]x",
      "http://[zz]:1",
      "http://ho st:1",
      "http://host\n:1",
      "http://ho$t:1",
  };
  for (const char* text : bad) {
    SCOPED_TRACE(text);
    auto url = ParseApiUrl(text);
    ASSERT_FALSE(url.ok());
    EXPECT_EQ(url.error().exit_code, kExitUsage);
    EXPECT_NE(url.error().message.find(text), std::string::npos);
    EXPECT_FALSE(url.error().hint.empty());
  }
}

TEST(ParseApiUrl, HttpsHintSaysWhy) {
  auto url = ParseApiUrl("https://x:1");
  ASSERT_FALSE(url.ok());
  EXPECT_NE(url.error().message.find("'https'"), std::string::npos);
  EXPECT_NE(url.error().hint.find("plain HTTP"), std::string::npos);
}

TEST(ApiUrl, ToStringRoundTrips) {
  auto url = ParseApiUrl("http://[::1]:9/p/");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->ToString(), "http://[::1]:9/p");
}

TEST(EncodePathSegment, KeepsUnreservedAndEncodesTheRest) {
  EXPECT_EQ(EncodePathSegment("web-1"), "web-1");
  EXPECT_EQ(EncodePathSegment("a/b"), "a%2Fb");
  EXPECT_EQ(EncodePathSegment("a b?c#d"), "a%20b%3Fc%23d");
  EXPECT_EQ(EncodePathSegment("x%y"), "x%25y");
  EXPECT_EQ(EncodePathSegment("\xe9"), "%E9");
  EXPECT_EQ(EncodePathSegment(""), "");
}

}  // namespace
}  // namespace kumo::cli
