// WebSocket upgrades on a real HttpServer (127.0.0.1, any port) with a Beast
// WebSocket client: who gets in, what goes through, and the bounds.
#include "api/websocket_channel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <iostream>
#include <mutex>
#include <thread>

#include "api/http_server.h"
#include "support/http_server_thread.h"

namespace kumo::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;

constexpr char kToken[] = "secret";
constexpr size_t kFloodBytes = 32 * 1024 * 1024;

bool HasToken(const ApiRequest& r) {
  if (r.authorization == std::string("Bearer ") + kToken) return true;
  auto it = r.query.find("token");
  return it != r.query.end() && it->second == kToken;
}

// kumod's HTTP server on its own thread; the upgrade handler routes
// /ws/echo, /ws/bye and /ws/flood and wants the token.
class WebSocketServer {
 public:
  WebSocketServer()
      : server_([](const ApiRequest& r, auto respond) {
          respond(ApiResponse{200, {{"path", r.path}}});
        }) {
    server_.server().SetUpgradeHandler(
        [this](const ApiRequest& r,
               std::shared_ptr<WebSocketChannel> channel) -> std::optional<ApiResponse> {
          if (!HasToken(r)) {
            return ErrorResponse(401, "Unauthorized", "a valid bearer token is required");
          }
          if (r.path == "/ws/echo") {
            channel->OnMessage([weak = std::weak_ptr<WebSocketChannel>(channel)](std::string m) {
              if (auto c = weak.lock()) c->Send(std::move(m));
            });
          } else if (r.path == "/ws/bye") {
            channel->Send("bye");  // before the handshake: queued
            channel->Close("server stopped");
          } else if (r.path == "/ws/flood") {
            Flood(channel);
          } else {
            return ErrorResponse(404, codes::kNotFound, "no such console: " + r.path);
          }
          channel->OnClose([this, channel] {  // holding itself: released after the call
            ++closes_;
            if (auto beast_channel = std::dynamic_pointer_cast<BeastWebSocketChannel>(channel)) {
              overflowed_ = beast_channel->overflowed();
            }
          });
          return std::nullopt;
        });
    server_.Start();
  }
  ~WebSocketServer() { server_.Stop(); }

  unsigned short port() const { return server_.port(); }
  int closes() const { return closes_; }
  bool overflowed() const { return overflowed_; }
  size_t flooded() const { return flooded_; }
  bool flood_refused() const { return flood_refused_; }

  // Runs `f` on the server's loop and waits for it.
  void OnLoop(const std::function<void()>& f) { server_.OnLoop(f); }

 private:
  // Sends 64 KiB every 4 ms (16 MB/s, far above a console's output) until
  // kFloodBytes, then closes. A reading client keeps up with it even when
  // the machine is busy: the queue holds 64 ms of it. (At 1 ms a CI run
  // with every core taken by QEMU fell 1 MiB behind: 16 ms late.)
  void Flood(std::shared_ptr<WebSocketChannel> channel) {
    auto timer = std::make_shared<asio::steady_timer>(server_.io());
    auto tick = std::make_shared<std::function<void()>>();
    *tick = [this, channel, timer, weak_tick = std::weak_ptr<std::function<void()>>(tick)] {
      if (flooded_ >= kFloodBytes) return channel->Close("done");
      if (!channel->Send(std::string(64 * 1024, 'f'))) {
        flood_refused_ = true;
        return;
      }
      flooded_ += 64 * 1024;
      timer->expires_after(milliseconds(4));
      timer->async_wait([weak_tick](beast::error_code) {
        if (auto t = weak_tick.lock()) (*t)();
      });
    };
    floods_.push_back(tick);
    asio::post(server_.io(), [tick] { (*tick)(); });
  }

  testing::HttpServerThread server_;
  std::atomic<int> closes_{0};
  std::atomic<bool> overflowed_{false};
  std::atomic<size_t> flooded_{0};
  std::atomic<bool> flood_refused_{false};
  std::vector<std::shared_ptr<std::function<void()>>> floods_;
};

// A blocking Beast WebSocket client.
class Client {
 public:
  beast::error_code Connect(unsigned short port, const std::string& target,
                            const std::string& authorization = "") {
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
    if (ec) return ec;
    ws_.set_option(websocket::stream_base::decorator([authorization](websocket::request_type& r) {
      if (!authorization.empty()) r.set(http::field::authorization, authorization);
    }));
    ws_.binary(true);
    // Asynchronous: Boost 1.74's synchronous handshake drops the response of
    // a refused upgrade.
    ws_.async_handshake(response_, "127.0.0.1", target, [&ec](beast::error_code e) { ec = e; });
    io_.run();
    io_.restart();
    return ec;
  }

  beast::error_code Send(const std::string& bytes) {
    beast::error_code ec;
    ws_.write(asio::buffer(bytes), ec);
    return ec;
  }

  // Reads one message; "" and the error at the end.
  std::string Read(beast::error_code* ec) {
    beast::flat_buffer buffer;
    ws_.read(buffer, *ec);
    return beast::buffers_to_string(buffer.data());
  }

  const websocket::response_type& response() const { return response_; }
  websocket::stream<beast::tcp_stream>& ws() { return ws_; }

 private:
  asio::io_context io_;
  websocket::stream<beast::tcp_stream> ws_{io_};
  websocket::response_type response_;
};

bool Eventually(const std::function<bool()>& done, milliseconds timeout = milliseconds(10000)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

TEST(WebSocket, AcceptsTheTokenInTheHeaderAndEchoesBinary) {
  WebSocketServer server;
  Client client;
  ASSERT_FALSE(client.Connect(server.port(), "/ws/echo", "Bearer secret"));
  EXPECT_EQ(client.response().result_int(), 101);
  std::string bytes("login: \x00\xff\x1b[0m", 13);
  ASSERT_FALSE(client.Send(bytes));
  beast::error_code ec;
  EXPECT_EQ(client.Read(&ec), bytes);
  EXPECT_FALSE(ec);
  EXPECT_TRUE(client.ws().got_binary());
  client.ws().close(websocket::close_code::normal, ec);
  EXPECT_TRUE(Eventually([&] { return server.closes() == 1; }));
}

TEST(WebSocket, AcceptsTheTokenAsAQueryParameter) {
  WebSocketServer server;
  Client client;
  ASSERT_FALSE(client.Connect(server.port(), "/ws/echo?token=secret"));
  ASSERT_FALSE(client.Send("hi"));
  beast::error_code ec;
  EXPECT_EQ(client.Read(&ec), "hi");
}

TEST(WebSocket, RefusesWithAPlainJsonError) {
  WebSocketServer server;
  {
    Client client;
    beast::error_code ec = client.Connect(server.port(), "/ws/echo");
    EXPECT_EQ(ec, websocket::error::upgrade_declined);
    EXPECT_EQ(client.response().result_int(), 401);
    EXPECT_EQ(client.response()[http::field::content_type], "application/json");
    auto body = json::parse(client.response().body(), nullptr, false);
    EXPECT_EQ(body["error"]["code"], "Unauthorized") << client.response().body();
  }
  {
    Client client;
    EXPECT_EQ(client.Connect(server.port(), "/ws/echo?token=wrong"),
              websocket::error::upgrade_declined);
    EXPECT_EQ(client.response().result_int(), 401);
  }
  {
    Client client;
    EXPECT_EQ(client.Connect(server.port(), "/ws/nothing", "Bearer secret"),
              websocket::error::upgrade_declined);
    EXPECT_EQ(client.response().result_int(), 404);
    auto body = json::parse(client.response().body(), nullptr, false);
    EXPECT_EQ(body["error"]["code"], "NotFound");
  }
  EXPECT_EQ(server.closes(), 0);
}

TEST(WebSocket, PlainRequestsStillGoToTheHandler) {
  WebSocketServer server;
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
  http::request<http::string_body> req(http::verb::get, "/ws/echo", 11);
  req.set(http::field::host, "127.0.0.1");
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(json::parse(res.body())["path"], "/ws/echo");
}

TEST(WebSocket, ServerSideCloseSendsWhatIsQueuedThenTheReason) {
  WebSocketServer server;
  Client client;
  ASSERT_FALSE(client.Connect(server.port(), "/ws/bye", "Bearer secret"));
  beast::error_code ec;
  EXPECT_EQ(client.Read(&ec), "bye");
  EXPECT_FALSE(ec);
  client.Read(&ec);
  EXPECT_EQ(ec, websocket::error::closed);
  EXPECT_EQ(client.ws().reason().code, websocket::close_code::normal);
  EXPECT_EQ(std::string(client.ws().reason().reason.c_str()), "server stopped");
  EXPECT_TRUE(Eventually([&] { return server.closes() == 1; }));
}

TEST(WebSocket, AnOversizedMessageClosesTheConnection) {
  WebSocketServer server;
  Client client;
  ASSERT_FALSE(client.Connect(server.port(), "/ws/echo", "Bearer secret"));
  std::string largest(WebSocketChannel::kMaxMessageBytes, 'a');
  ASSERT_FALSE(client.Send(largest));
  beast::error_code ec;
  EXPECT_EQ(client.Read(&ec).size(), largest.size());  // the limit itself is fine
  ASSERT_FALSE(ec);

  client.Send(largest + "b");
  client.Read(&ec);
  EXPECT_EQ(ec, websocket::error::closed) << ec.message();
  EXPECT_EQ(client.ws().reason().code, websocket::close_code::too_big);
  EXPECT_TRUE(Eventually([&] { return server.closes() == 1; }));
}

TEST(WebSocket, AClientThatReadsKeepsUp) {
  WebSocketServer server;
  Client client;
  ASSERT_FALSE(client.Connect(server.port(), "/ws/flood", "Bearer secret"));
  size_t got = 0;
  beast::error_code ec;
  while (!ec) got += client.Read(&ec).size();
  EXPECT_EQ(ec, websocket::error::closed);
  EXPECT_EQ(got, kFloodBytes);
  EXPECT_FALSE(server.overflowed());
}

TEST(WebSocket, AClientThatNeverReadsIsDisconnected) {
  WebSocketServer server;
  Client client;
  ASSERT_FALSE(client.Connect(server.port(), "/ws/flood", "Bearer secret"));
  // Read nothing: the kernel's buffers fill, then the channel's queue.
  ASSERT_TRUE(Eventually([&] { return server.closes() == 1; }, milliseconds(30000)))
      << "sent " << server.flooded() << " bytes without a disconnect";
  EXPECT_TRUE(server.overflowed());
  EXPECT_TRUE(server.flood_refused());
  // Bounded: the queue (1 MiB) plus what the kernel took (socket buffers).
  EXPECT_LT(server.flooded(), kFloodBytes);
  std::cout << "disconnected after " << server.flooded() / 1024 << " KiB\n";
}

TEST(WebSocket, ThePeerGoingAwayEndsTheChannel) {
  WebSocketServer server;
  {
    Client client;
    ASSERT_FALSE(client.Connect(server.port(), "/ws/echo", "Bearer secret"));
    beast::error_code ignored;
    beast::get_lowest_layer(client.ws()).socket().close(ignored);  // no close frame
  }
  EXPECT_TRUE(Eventually([&] { return server.closes() == 1; }));
}

}  // namespace
}  // namespace kumo::api
