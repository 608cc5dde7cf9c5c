// HttpServer: kumod's HTTP listener on Boost.Beast. It reads requests (bodies
// over kMaxBodyBytes get 413 and are not read), hands them to the Router, and
// writes JSON responses; keep-alive connections, one event loop.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "api/api_types.h"
#include "common/asio.h"

namespace kumo::api {

class HttpServer {
 public:
  static constexpr size_t kMaxBodyBytes = 256 * 1024;
  using Handler = std::function<void(const ApiRequest&, std::function<void(ApiResponse)>)>;

  HttpServer(boost::asio::io_context& io, Handler handler);
  ~HttpServer();

  // Binds and listens; "127.0.0.1:8470" style. Returns an error status if the
  // address is malformed or taken.
  Status Listen(const std::string& address);
  unsigned short port() const;

 private:
  void Accept();

  boost::asio::io_context& io_;
  Handler handler_;
  boost::asio::ip::tcp::acceptor acceptor_;
};

// Splits "/v1/x?a=1&b=%20" into path and decoded query parameters.
void SplitTarget(const std::string& target, std::string* path,
                 std::map<std::string, std::string>* query);

}  // namespace kumo::api
