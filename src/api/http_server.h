// HttpServer: kumod's HTTP listener on Boost.Beast. It reads requests (bodies
// over kMaxBodyBytes get 413 and are not read), hands them to the Router, and
// writes the responses (JSON, or raw bytes of a given Content-Type);
// keep-alive connections, one event loop. A response with `stream` set turns
// the connection into a Server-Sent Events stream (BeastEventStream,
// sse_stream.h). WebSocket upgrade requests go to the upgrade handler, when
// one is set.
//
// Overload: at most max_connections() connections are open at once, event
// streams and WebSockets included (ConnectionLimit, connection_limit.h: at
// the cap the connection idle the longest is closed to make room, and with
// none idle the new one is answered 503 TooManyConnections with
// "Connection: close"). When accept itself fails (EMFILE, ENFILE, ...), the
// accept loop backs off (50 ms doubling to 1 s) instead of spinning, and logs
// once per episode. A state-changing request (POST, PUT, PATCH, DELETE)
// whose client has already closed or reset the connection when it is read is
// dropped, logged and never handed to Handler: a request is either answered
// or not acted upon.
//
// Uploads: every request's header is read first. When the upload handler
// (SetUploadHandler) claims it, its body is never read whole: the handler
// answers from the header alone (a refusal: 401, 411, 413, 507 ... sent
// without reading the body, then the connection is closed), or the body is
// streamed into its UploadSink in chunks of at most kUploadChunkBytes
// ("Expect: 100-continue" is answered first), each chunk under the upload
// idle timeout; a client gone, a body cut short or a stall destroys the sink
// unfinished and closes the connection.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "api/api_types.h"
#include "api/connection_limit.h"
#include "api/sse_stream.h"
#include "api/upload_sink.h"
#include "api/websocket_channel.h"
#include "common/asio.h"

namespace kumo::api {

struct ServerConnections;  // http_server.cc

class HttpServer {
 public:
  static constexpr size_t kMaxBodyBytes = 256 * 1024;
  static constexpr size_t kUploadChunkBytes = 256 * 1024;
  using Handler = std::function<void(const ApiRequest&, std::function<void(ApiResponse)>)>;
  // Decides a WebSocket upgrade request (GET with "Upgrade: websocket"):
  // returns std::nullopt to take it — the channel opens right after (its
  // handlers should be set before returning; Send may be called at once and
  // queues) — or the response that refuses it, sent as plain HTTP like any
  // API error (e.g. 401 Unauthorized, 404 NotFound); a refused channel is
  // dropped and calls nothing. `request` is parsed as for Handler: path,
  // decoded query, the Authorization header. Browsers cannot set headers on
  // a WebSocket request, so a handler that wants a token should accept it as
  // "Authorization: Bearer TOKEN" or as the query parameter "?token=TOKEN".
  using UpgradeHandler = std::function<std::optional<ApiResponse>(
      const ApiRequest& request, std::shared_ptr<WebSocketChannel> channel)>;

  // Decides from a request's header alone whether it is an upload:
  // std::nullopt (not one: read and handled as usual) or its UploadStart.
  // `content_length` is unset for a body without one (chunked).
  using UploadHandler = std::function<std::optional<UploadStart>(
      const ApiRequest& header, std::optional<uint64_t> content_length)>;

  HttpServer(boost::asio::io_context& io, Handler handler);
  ~HttpServer();

  // Without an upgrade handler, upgrade requests go to Handler like any
  // other request. Set it before Listen().
  void SetUpgradeHandler(UpgradeHandler handler);
  // Set it before Listen().
  void SetUploadHandler(UploadHandler handler);
  // How long an upload may go without a byte before it is abandoned
  // (default 60 s).
  void SetUploadIdleTimeout(std::chrono::milliseconds timeout);
  // The heartbeat, bound and write timeout of the event streams opened from
  // now on.
  void SetEventStreamOptions(EventStreamOptions options);

  // The cap on open connections (default: DefaultMaxConnections of the
  // process's open-files limit). Set it before Listen().
  void SetMaxConnections(size_t cap);
  size_t max_connections() const;
  // Where overload and dropped requests are logged, one line each (default:
  // standard error, prefixed "kumod: ").
  void SetLog(std::function<void(const std::string&)> log);

  // Binds and listens; "127.0.0.1:8470" style. Returns an error status if the
  // address is malformed or taken.
  Status Listen(const std::string& address);
  unsigned short port() const;

 private:
  void Accept();

  std::shared_ptr<ServerConnections> shared_;  // with the sessions, which may outlive the server
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer accept_retry_;
  AcceptBackoff backoff_;
};

// Splits "/v1/x?a=1&b=%20" into path and decoded query parameters.
void SplitTarget(const std::string& target, std::string* path,
                 std::map<std::string, std::string>* query);

}  // namespace kumo::api
