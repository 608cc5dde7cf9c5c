// The web panel's sign-in routes of the Router (router.h, sessions.h).
#include <nlohmann/json.hpp>

#include "api/router.h"

namespace kumo::api {
namespace {

ApiResponse Forbidden(const std::string& message, const std::string& hint) {
  return ErrorResponse(403, codes::kForbidden, message, hint);
}

}  // namespace

bool Router::SameOrigin(const ApiRequest& req) {
  if (!req.sec_fetch_site.empty() && req.sec_fetch_site != "same-origin" &&
      req.sec_fetch_site != "none") {
    return false;
  }
  if (req.origin.empty()) return req.sec_fetch_site.empty() || req.sec_fetch_site != "cross-site";
  return req.origin == "http://" + req.host || req.origin == "https://" + req.host;
}

std::optional<ApiResponse> Router::RefuseForgery(const ApiRequest& req, const Session& session) {
  if (!IsStateChanging(req.method)) return std::nullopt;
  if (!SameOrigin(req)) {
    return Forbidden("a request from another site was refused (Origin '" +
                         req.origin.substr(0, 100) + "', Sec-Fetch-Site '" +
                         req.sec_fetch_site.substr(0, 20) + "')",
                     "the panel's own pages may change servers; scripts use the bearer token");
  }
  if (!SecretsEqual(session.csrf, req.csrf_token)) {
    return Forbidden("the request lacks the session's CSRF token",
                     "send X-CSRF-Token with the csrf_token of GET /v1/session");
  }
  return std::nullopt;
}

ApiResponse Router::SignIn(const ApiRequest& req, const std::string&) {
  // A cross-site form cannot send JSON, and a cross-site script would need
  // CORS, which kumod never grants; the origin check covers the rest.
  if (req.content_type.rfind("application/json", 0) != 0) {
    return ErrorResponse(415, codes::kInvalidArgument,
                         "sign in with a JSON body {\"token\": \"…\"}");
  }
  if (!SameOrigin(req)) {
    return Forbidden("sign-in from another site was refused",
                     "sign in on the panel served by this kumod");
  }
  json body = json::parse(req.body, nullptr, false);
  if (!body.is_object() || body.size() != 1 || !body.contains("token") ||
      !body["token"].is_string()) {
    return ErrorResponse(400, codes::kInvalidArgument,
                         "the body must be {\"token\": \"…\"} and nothing else");
  }
  if (!TokenMatches(body["token"].get<std::string>())) {
    return ErrorResponse(401, codes::kUnauthorized, "that is not this kumod's API token",
                         "the token is in STATE_DIR/token on the host (kumod prints where)");
  }
  Session s = sessions_.Create();
  ApiResponse r{201, {{"csrf_token", s.csrf}, {"expires_at", s.expires_ms}}};
  r.headers.emplace_back("Set-Cookie", SessionCookie(s.id, SessionStore::kLifetimeMs / 1000));
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

ApiResponse Router::GetSession(const ApiRequest& req, const std::string&) {
  Session s;
  if (Authenticate(req, &s) != Credential::kSession) {
    return {200, {{"session", false}}};
  }
  ApiResponse r{200, {{"session", true}, {"csrf_token", s.csrf}, {"expires_at", s.expires_ms}}};
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

ApiResponse Router::SignOut(const ApiRequest& req, const std::string&) {
  std::string id = CookieValue(req.cookie, SessionStore::kCookieName);
  if (!id.empty()) sessions_.Revoke(id);
  ApiResponse r{200, {{"session", false}}};
  r.headers.emplace_back("Set-Cookie", SessionCookie("", 0));
  return r;
}

}  // namespace kumo::api
