// Router: the REST API under /v1 (docs/openapi.json is its contract; a test
// keeps the two in step). It authenticates, parses and validates requests —
// unknown fields, wrong types and malformed JSON are refused with 400 before
// anything changes — and hands typed operations to the server core.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/api_types.h"
#include "api/websocket_channel.h"
#include "core/server_core.h"

namespace kumo::api {

struct Route {
  std::string method;
  std::string pattern;  // e.g. "/v1/servers/{name}"
  bool needs_token = true;
};

class Router {
 public:
  Router(core::ServerCore& core, std::string token);

  using Respond = std::function<void(ApiResponse)>;

  // Answers the request, now or later (exec waits for the guest): `respond`
  // is called exactly once, on the event loop.
  void Handle(const ApiRequest& request, Respond respond);
  // The synchronous routes, for callers that need no waiting.
  ApiResponse HandleNow(const ApiRequest& request);

  // WebSocket upgrade requests (HttpServer::UpgradeHandler): the console
  // (GET /v1/servers/{name}/console) is joined to the channel, and nullopt
  // returned; anything else is refused with the response to send. Browsers
  // cannot set headers on a WebSocket request, so the token may also come as
  // the query parameter ?token=TOKEN.
  std::optional<ApiResponse> HandleUpgrade(const ApiRequest& request,
                                           std::shared_ptr<WebSocketChannel> channel);

  // Every route the API serves, for the OpenAPI check and for 405s.
  static const std::vector<Route>& Routes();

 private:
  bool Authorized(const ApiRequest& request) const;
  bool TokenMatches(const std::string& given) const;

  core::ServerCore& core_;
  std::string token_;
};

json ServerJson(const ServerRecord& r);
json EventJson(const EventRecord& e);
json ImageJson(const ImageRecord& i);

}  // namespace kumo::api
