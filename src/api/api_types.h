// The API's request and response values, independent of the HTTP library:
// the router maps an ApiRequest to an ApiResponse; http_server.cc moves them
// on and off the wire.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "api/event_stream.h"
#include "common/status.h"

namespace kumo::api {

using json = nlohmann::json;

struct ApiRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query string
  std::map<std::string, std::string> query;
  std::string authorization;  // the Authorization header
  std::string content_type;
  std::string last_event_id;  // the Last-Event-ID header (an EventSource resuming)
  // For the web panel's session (sessions.h): the Cookie header, X-CSRF-Token,
  // and what the browser says of the request's origin.
  std::string cookie;
  std::string csrf_token;
  std::string origin;
  std::string sec_fetch_site;
  std::string host;
  std::string accept_encoding;  // for the panel's gzipped files
  std::string body;
};

// One of three kinds of answer:
//   - JSON (the default): `status` with `body`, as application/json;
//   - raw: `status` with `raw_body` as `content_type`, when content_type is
//     set (Prometheus text, the panel's files);
//   - a Server-Sent Events stream, when `stream` is set: 200 with
//     text/event-stream (status and bodies are ignored), held open; `stream`
//     is then called with the open stream, on the event loop.
struct ApiResponse {
  int status = 200;
  json body;
  // Initialized so that {status, body} stays a complete initializer.
  std::string content_type = {};
  std::string raw_body = {};
  std::function<void(std::shared_ptr<EventStream>)> stream = {};
  // Extra response headers (Set-Cookie), sent as given.
  std::vector<std::pair<std::string, std::string>> headers = {};
};

// POST, PUT, PATCH, DELETE: a request that may change something.
bool IsStateChanging(const std::string& method);

// {"error": {"code", "message", "hint"}} with the HTTP status for the code.
ApiResponse ErrorResponse(const Status& status);
ApiResponse ErrorResponse(int http_status, const std::string& code, const std::string& message,
                          const std::string& hint = "", const std::string& field = "");
// The HTTP status for an error code (codes:: in common/status.h); 500 for
// codes it does not know.
int HttpStatusFor(const std::string& code);

}  // namespace kumo::api
