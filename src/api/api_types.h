// The API's request and response values, independent of the HTTP library:
// the router maps an ApiRequest to an ApiResponse; http_server.cc moves them
// on and off the wire.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"

namespace kumo::api {

using json = nlohmann::json;

struct ApiRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query string
  std::map<std::string, std::string> query;
  std::string authorization;  // the Authorization header
  std::string content_type;
  std::string body;
};

struct ApiResponse {
  int status = 200;
  json body;
};

// {"error": {"code", "message", "hint"}} with the HTTP status for the code.
ApiResponse ErrorResponse(const Status& status);
ApiResponse ErrorResponse(int http_status, const std::string& code, const std::string& message,
                          const std::string& hint = "");
int HttpStatusFor(const std::string& code);

}  // namespace kumo::api
