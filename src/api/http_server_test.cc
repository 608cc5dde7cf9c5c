// HttpServer's plain responses on a real listener (127.0.0.1, any port) with
// a Beast client: JSON by default, raw bytes when a Content-Type is given,
// and the request fields handed to the handler.
#include "api/http_server.h"

#include <gtest/gtest.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <mutex>

#include "support/http_server_thread.h"

namespace kumo::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class PlainServer {
 public:
  PlainServer()
      : server_([this](const ApiRequest& r, auto respond) {
          {
            std::lock_guard lock(mu_);
            seen_ = r;
          }
          if (r.path == "/metrics") {
            ApiResponse response;
            response.content_type = "text/plain; version=0.0.4";
            response.raw_body = "kumo_servers 3\n";
            return respond(response);
          }
          respond(ApiResponse{201, {{"path", r.path}}});
        }) {
    server_.Start();
  }
  ~PlainServer() { server_.Stop(); }

  http::response<http::string_body> Get(const std::string& target,
                                        const std::string& last_event_id = "") {
    asio::io_context io;
    beast::tcp_stream stream(io);
    stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_.port()));
    http::request<http::string_body> req(http::verb::get, target, 11);
    req.set(http::field::host, "127.0.0.1");
    if (!last_event_id.empty()) req.set("Last-Event-ID", last_event_id);
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    return res;
  }
  ApiRequest seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  testing::HttpServerThread server_;
  std::mutex mu_;
  ApiRequest seen_;
};

TEST(HttpServer, JsonByDefault) {
  PlainServer server;
  auto res = server.Get("/v1/x?a=1");
  EXPECT_EQ(res.result_int(), 201);
  EXPECT_EQ(res[http::field::content_type], "application/json");
  EXPECT_EQ(res.body(), "{\"path\":\"/v1/x\"}\n");
  EXPECT_EQ(server.seen().last_event_id, "");
}

TEST(HttpServer, RawBodiesGoOutAsGiven) {
  PlainServer server;
  auto res = server.Get("/metrics", "17");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res[http::field::content_type], "text/plain; version=0.0.4");
  EXPECT_EQ(res[http::field::content_length], "15");
  EXPECT_EQ(res.body(), "kumo_servers 3\n");
  EXPECT_EQ(server.seen().last_event_id, "17");
}

}  // namespace
}  // namespace kumo::api
