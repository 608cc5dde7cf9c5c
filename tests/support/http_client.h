// Test support: a blocking HTTP/1.1 client for kumod's API on loopback.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace kumo::testing {

struct HttpResult {
  int status = 0;  // 0: no response (connection failed)
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // as received
  // The first header named `name` (case-insensitive), or "".
  std::string Header(const std::string& name) const;
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

// `target` is the path with query, e.g. "/v1/servers?x=1"; `token` may be "".
HttpResult HttpRequest(int port, const std::string& method, const std::string& target,
                       const std::string& token, const std::string& body = "",
                       const std::string& content_type = "application/json");

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;
// The same with the request's headers given as they are (Cookie, Origin, …).
HttpResult HttpRequestWithHeaders(int port, const std::string& method, const std::string& target,
                                  const HttpHeaders& headers, const std::string& body = "");

}  // namespace kumo::testing
