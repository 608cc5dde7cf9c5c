// HttpServer: kumod's HTTP listener on Boost.Beast. It reads requests (bodies
// over kMaxBodyBytes get 413 and are not read), hands them to the Router, and
// writes the responses (JSON, or raw bytes of a given Content-Type);
// keep-alive connections, one event loop. A response with `stream` set turns
// the connection into a Server-Sent Events stream (BeastEventStream,
// sse_stream.h). WebSocket upgrade requests go to the upgrade handler, when
// one is set.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "api/api_types.h"
#include "api/sse_stream.h"
#include "api/websocket_channel.h"
#include "common/asio.h"

namespace kumo::api {

class HttpServer {
 public:
  static constexpr size_t kMaxBodyBytes = 256 * 1024;
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

  HttpServer(boost::asio::io_context& io, Handler handler);
  ~HttpServer();

  // Without an upgrade handler, upgrade requests go to Handler like any
  // other request. Set it before Listen().
  void SetUpgradeHandler(UpgradeHandler handler);
  // The heartbeat, bound and write timeout of the event streams opened from
  // now on.
  void SetEventStreamOptions(EventStreamOptions options);

  // Binds and listens; "127.0.0.1:8470" style. Returns an error status if the
  // address is malformed or taken.
  Status Listen(const std::string& address);
  unsigned short port() const;

 private:
  void Accept();

  boost::asio::io_context& io_;
  Handler handler_;
  UpgradeHandler upgrade_handler_;
  EventStreamOptions stream_options_;
  boost::asio::ip::tcp::acceptor acceptor_;
};

// Splits "/v1/x?a=1&b=%20" into path and decoded query parameters.
void SplitTarget(const std::string& target, std::string* path,
                 std::map<std::string, std::string>* query);

}  // namespace kumo::api
