// The web panel's sign-in against a real kumod over real HTTP: the token is
// exchanged once for a session cookie (HttpOnly, SameSite=Strict), the
// cookie works for reading, a change needs the session's CSRF token from
// the panel's own origin, and signing out ends it. The CLI's bearer token
// keeps working throughout.
#include <gtest/gtest.h>

#include "e2e/kumod_harness.h"
#include "support/http_client.h"

namespace kumo {
namespace {

using testing::HttpHeaders;
using testing::HttpRequestWithHeaders;
using testing::json;
using testing::KumodHarness;

TEST(Session, TheCookieReadsAndOnlyThePanelsOwnRequestsChangeAnything) {
  KumodHarness kumod;
  std::string err;
  ASSERT_TRUE(kumod.Start(&err)) << err;
  const int port = kumod.port();
  const std::string self = "http://127.0.0.1:" + std::to_string(port);
  const HttpHeaders json_from_self = {{"Host", "127.0.0.1:" + std::to_string(port)},
                                      {"Origin", self},
                                      {"Content-Type", "application/json"}};

  auto wrong = HttpRequestWithHeaders(port, "POST", "/v1/session", json_from_self,
                                      R"({"token": "not-the-token"})");
  EXPECT_EQ(wrong.status, 401) << wrong.body;
  EXPECT_EQ(wrong.Header("Set-Cookie"), "");

  auto signed_in = HttpRequestWithHeaders(port, "POST", "/v1/session", json_from_self,
                                          json({{"token", kumod.token()}}).dump());
  ASSERT_EQ(signed_in.status, 201) << signed_in.body;
  std::string cookie = signed_in.Header("Set-Cookie");
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos) << cookie;
  EXPECT_EQ(cookie.find(kumod.token()), std::string::npos);
  cookie = cookie.substr(0, cookie.find(';'));
  const std::string csrf = signed_in.json()["csrf_token"];

  HttpHeaders browser = json_from_self;
  browser.emplace_back("Cookie", cookie);
  auto list = HttpRequestWithHeaders(port, "GET", "/v1/servers", browser);
  EXPECT_EQ(list.status, 200) << list.body;

  const std::string create = R"({"name": "x1", "image": "no-such-image"})";
  auto no_csrf = HttpRequestWithHeaders(port, "POST", "/v1/servers", browser, create);
  EXPECT_EQ(no_csrf.status, 403) << no_csrf.body;
  HttpHeaders forged = browser;
  forged[1] = {"Origin", "http://evil.example"};
  forged.emplace_back("X-CSRF-Token", csrf);
  auto cross = HttpRequestWithHeaders(port, "POST", "/v1/servers", forged, create);
  EXPECT_EQ(cross.status, 403) << cross.body;

  HttpHeaders panel = browser;
  panel.emplace_back("X-CSRF-Token", csrf);
  auto from_panel = HttpRequestWithHeaders(port, "POST", "/v1/servers", panel, create);
  // Past the guard, to the API's own checks: the image does not exist.
  EXPECT_EQ(from_panel.status, 404) << from_panel.body;
  EXPECT_NE(from_panel.body.find("no-such-image"), std::string::npos) << from_panel.body;

  auto out = HttpRequestWithHeaders(port, "DELETE", "/v1/session", panel);
  EXPECT_EQ(out.status, 200) << out.body;
  EXPECT_NE(out.Header("Set-Cookie").find("Max-Age=0"), std::string::npos);
  EXPECT_EQ(HttpRequestWithHeaders(port, "GET", "/v1/servers", browser).status, 401);
  EXPECT_EQ(kumod.Call("GET", "/v1/servers").status, 200) << "the bearer token still works";
}

}  // namespace
}  // namespace kumo
