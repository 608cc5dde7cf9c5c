#include "api/sessions.h"

#include <gtest/gtest.h>

#include <set>

namespace kumo::api {
namespace {

TEST(SessionStore, SessionsExpireAndTheOldestGoFirst) {
  int64_t now = 1000;
  SessionStore store([&] { return now; });
  Session a = store.Create();
  EXPECT_EQ(a.id.size(), 64u);
  EXPECT_NE(a.id, a.csrf);
  ASSERT_TRUE(store.Find(a.id));
  EXPECT_FALSE(store.Find(""));
  EXPECT_FALSE(store.Find(a.id + "0"));
  now += SessionStore::kLifetimeMs;
  EXPECT_FALSE(store.Find(a.id)) << "expired";
  std::set<std::string> ids;
  Session first = store.Create();
  for (size_t i = 1; i < SessionStore::kMaxSessions + 10; ++i) {
    ++now;
    ids.insert(store.Create().id);
  }
  EXPECT_EQ(store.size(), SessionStore::kMaxSessions);
  EXPECT_FALSE(store.Find(first.id)) << "the oldest made room";
  EXPECT_EQ(ids.size(), SessionStore::kMaxSessions + 9) << "ids never repeat";
  Session b = store.Create();
  store.Revoke(b.id);
  EXPECT_FALSE(store.Find(b.id));
}

TEST(CookieValue, FindsTheNamedCookieOnly) {
  EXPECT_EQ(CookieValue("kumo_session=abc", "kumo_session"), "abc");
  EXPECT_EQ(CookieValue("a=1; kumo_session=abc; b=2", "kumo_session"), "abc");
  EXPECT_EQ(CookieValue("xkumo_session=abc", "kumo_session"), "");
  EXPECT_EQ(CookieValue("", "kumo_session"), "");
  EXPECT_EQ(CookieValue(";;=;kumo_session", "kumo_session"), "");
}

TEST(SecretsEqual, ComparesWholeSecrets) {
  EXPECT_TRUE(SecretsEqual("abc", "abc"));
  EXPECT_FALSE(SecretsEqual("abc", "ab"));
  EXPECT_FALSE(SecretsEqual("abc", "abcd"));
  EXPECT_FALSE(SecretsEqual("abc", ""));
}

}  // namespace
}  // namespace kumo::api
