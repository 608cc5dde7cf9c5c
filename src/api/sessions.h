// Sessions: the web panel's sign-in. The API token, given once to
// POST /v1/session, is exchanged for a session: an id the browser keeps in
// an HttpOnly, SameSite=Strict cookie (so the token is never in a URL or in
// browser storage) and a CSRF token the page sends back in X-CSRF-Token on
// every state-changing request. Sessions live in kumod's memory: a kumod
// restart signs everyone out. At most kMaxSessions; the oldest goes first.
//
// Not thread-safe; kumod's event loop owns it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace kumo::api {

struct Session {
  std::string id;    // 256 random bits, hex: the cookie's value
  std::string csrf;  // 256 random bits, hex
  int64_t created_ms = 0;
  int64_t expires_ms = 0;
};

class SessionStore {
 public:
  static constexpr size_t kMaxSessions = 256;
  static constexpr int64_t kLifetimeMs = 12LL * 3600 * 1000;
  static constexpr char kCookieName[] = "kumo_session";

  explicit SessionStore(std::function<int64_t()> now_ms) : now_ms_(std::move(now_ms)) {}

  Session Create();
  // The live session with this id; expired ones are forgotten.
  std::optional<Session> Find(const std::string& id);
  void Revoke(const std::string& id);
  size_t size() const { return sessions_.size(); }

 private:
  std::function<int64_t()> now_ms_;
  std::map<std::string, Session> sessions_;
};

// 32 bytes from the kernel's CSPRNG, as 64 hex digits.
std::string RandomHex32();
// The value of cookie `name` in a Cookie header ("a=1; kumo_session=…").
std::string CookieValue(const std::string& cookie_header, const std::string& name);
// "kumo_session=ID; Path=/; HttpOnly; SameSite=Strict; Max-Age=N" (Max-Age=0 clears it).
std::string SessionCookie(const std::string& id, int64_t max_age_s);
// Constant-time comparison of secrets.
bool SecretsEqual(const std::string& expected, const std::string& given);

}  // namespace kumo::api
