// Router: the REST API under /v1 (docs/openapi.json is its contract; a test
// keeps the two in step). It authenticates, parses and validates requests —
// unknown fields, wrong types and malformed JSON are refused with 400 before
// anything changes — and hands typed operations to the server core.
//
// The routes are one table of {method, pattern, handler}, a member function
// per route that parses its request (like firecracker's parsed_request.rs).
// A request is matched in this order: an unknown path is 404 NotFound, a
// known path with another method 405 MethodNotAllowed, a missing or wrong
// token 401 Unauthorized; then the route's handler answers.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/api_stats.h"
#include "api/api_types.h"
#include "api/panel_files.h"
#include "api/rendered_servers.h"
#include "api/sessions.h"
#include "api/upload_sink.h"
#include "api/watch_endpoint.h"
#include "api/websocket_channel.h"
#include "core/image_library.h"
#include "core/server_core.h"
#include "diagnosis/server_observer.h"

namespace kumo::api {

struct Route {
  std::string method;
  std::string pattern;  // e.g. "/v1/servers/{name}"
  bool needs_token = true;
};

// What the diagnosis and metrics routes read; without an observer they
// answer 503.
struct Observability {
  diagnosis::ServerObserver* observer = nullptr;
  ApiStats* stats = nullptr;  // requests are counted here when set
  // GET /metrics's body (metrics_endpoint.h), made when asked.
  std::function<std::string()> render_metrics;
};

class Router {
 public:
  // `watch` serves GET /v1/watch.
  Router(core::ServerCore& core, WatchEndpoint& watch, std::string token,
         Observability observability = {});

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

  // Upload requests (HttpServer::UploadHandler), decided from their header:
  // PUT /v1/images/{name}/disk (token, Content-Length, Content-Type,
  // metadata in the query, then ImageLibrary::BeginUpload) gets its refusal
  // or the sink its body is streamed into; nullopt for any other request.
  std::optional<UploadStart> HandleUpload(const ApiRequest& request,
                                          std::optional<uint64_t> content_length);

  // The web panel's files, served for GET of any path outside the API (`/`,
  // `/assets/…`). When they could not be loaded, `/` answers 404 with why
  // (the panel not built) and how to build it.
  void ServePanel(Result<PanelFiles> panel);

  // Where POST and DELETE /v1/images take images in and out; without it
  // they answer 503.
  void ServeImages(core::ImageLibrary* images) { images_ = images; }

  // Every route the API serves, for the OpenAPI check and for 405s.
  static const std::vector<Route>& Routes();

 private:
  // The panel's file for a GET outside the API, or why there is none at `/`.
  std::optional<ApiResponse> PanelFile(const ApiRequest& req) const;
  // Answers now.
  using NowHandler = ApiResponse (Router::*)(const ApiRequest& request, const std::string& name);
  // Answers later through `respond` (it waits for the guest).
  using LaterHandler = void (Router::*)(const ApiRequest& request, const std::string& name,
                                        Respond respond);
  struct RouteEntry {
    RouteEntry(Route r, NowHandler h) : route(std::move(r)), now(h) {}
    RouteEntry(Route r, LaterHandler h) : route(std::move(r)), later(h) {}
    Route route;
    NowHandler now = nullptr;
    LaterHandler later = nullptr;
  };
  static const std::vector<RouteEntry>& Table();

  // The route for `request` with the {name} it captured, or the 404, 405 or
  // 401 response that refuses it.
  const RouteEntry* Find(const ApiRequest& request, std::string* name, ApiResponse* refusal);

  // One handler per route; `name` is the {name} in the path ("" if none).
  ApiResponse GetHealth(const ApiRequest& request, const std::string& name);
  ApiResponse ListImages(const ApiRequest& request, const std::string& name);
  ApiResponse GetHost(const ApiRequest& request, const std::string& name);
  ApiResponse ListServers(const ApiRequest& request, const std::string& name);
  ApiResponse CreateServer(const ApiRequest& request, const std::string& name);
  ApiResponse GetServer(const ApiRequest& request, const std::string& name);
  ApiResponse DeleteServer(const ApiRequest& request, const std::string& name);
  ApiResponse RunAction(const ApiRequest& request, const std::string& name);
  ApiResponse ListEvents(const ApiRequest& request, const std::string& name);
  ApiResponse ConsoleWithoutUpgrade(const ApiRequest& request, const std::string& name);
  ApiResponse GetConsoleLog(const ApiRequest& request, const std::string& name);
  ApiResponse Watch(const ApiRequest& request, const std::string& name);
  // The web panel's sign-in (router_session.cc).
  ApiResponse SignIn(const ApiRequest& request, const std::string& name);
  ApiResponse GetSession(const ApiRequest& request, const std::string& name);
  ApiResponse SignOut(const ApiRequest& request, const std::string& name);
  // Diagnosis and telemetry (router_diagnosis.cc).
  ApiResponse GetDiagnosis(const ApiRequest& request, const std::string& name);
  ApiResponse GetServerMetrics(const ApiRequest& request, const std::string& name);
  ApiResponse GetMetrics(const ApiRequest& request, const std::string& name);
  void Exec(const ApiRequest& request, const std::string& name, Respond respond);
  // Images in and out (router_images.cc).
  void ImportImage(const ApiRequest& request, const std::string& name, Respond respond);
  ApiResponse DeleteImage(const ApiRequest& request, const std::string& name);
  // PUT /v1/images/{name}/disk when HandleUpload did not take it.
  ApiResponse UploadNeedsStream(const ApiRequest& request, const std::string& name);
  void SetPassword(const ApiRequest& request, const std::string& name, Respond respond);

  // How a request proves it may use the API: the bearer token (the CLI,
  // scripts, Prometheus) or the panel's session cookie.
  enum class Credential { kNone, kToken, kSession };
  Credential Authenticate(const ApiRequest& request, Session* session = nullptr);
  bool Authorized(const ApiRequest& request) { return Authenticate(request) != Credential::kNone; }
  bool TokenMatches(const std::string& given) const;
  // A request signed in by cookie that changes something (IsStateChanging)
  // must come from the panel itself: its X-CSRF-Token, and no other origin
  // (Origin, Sec-Fetch-Site). The refusal, or nullopt.
  static std::optional<ApiResponse> RefuseForgery(const ApiRequest& request,
                                                  const Session& session);
  static bool SameOrigin(const ApiRequest& request);

  core::ServerCore& core_;
  WatchEndpoint& watch_;
  RenderedServers servers_;  // GET /v1/servers's records, as text
  std::string token_;
  Observability observability_;
  SessionStore sessions_;
  core::ImageLibrary* images_ = nullptr;
  Result<PanelFiles> panel_ = Status(codes::kNotFound, "this kumod serves no web panel");
};

json ServerJson(const ServerRecord& r);
json EventJson(const EventRecord& e);
json ImageJson(const ImageRecord& i);
json DiagnosisJson(const ServerRecord& r, const diagnosis::Diagnosis& d, int64_t checked_at_ms);

}  // namespace kumo::api
