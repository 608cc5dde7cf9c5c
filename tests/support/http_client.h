// Test support: a blocking HTTP/1.1 client for kumod's API on loopback.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace kumo::testing {

struct HttpResult {
  int status = 0;  // 0: no response (connection failed)
  std::string body;
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

// `target` is the path with query, e.g. "/v1/servers?x=1"; `token` may be "".
HttpResult HttpRequest(int port, const std::string& method, const std::string& target,
                       const std::string& token, const std::string& body = "",
                       const std::string& content_type = "application/json");

}  // namespace kumo::testing
