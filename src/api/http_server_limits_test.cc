// HttpServer under its connection cap, on a real listener with real sockets:
// the longest-idle connection makes room, a console (WebSocket) holds its
// place, the excess is answered 503, and a state-changing request whose
// client has gone is never handed to the handler.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <future>
#include <mutex>

#include "api/http_server.h"
#include "support/http_server_thread.h"

namespace kumo::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

int Connect(unsigned short port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  return fd;
}

void Send(int fd, const std::string& method, const std::string& path) {
  std::string r = method + " " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
  ASSERT_EQ(write(fd, r.data(), r.size()), static_cast<ssize_t>(r.size()));
}

// What arrives within `timeout` (up to the peer closing); `closed` says
// whether it did.
std::string ReadFor(int fd, std::chrono::milliseconds timeout, bool* closed) {
  std::string in;
  *closed = false;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left <= 0ms || poll(&p, 1, static_cast<int>(left.count())) <= 0) return in;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) {
      *closed = true;
      return in;
    }
    in.append(buf, static_cast<size_t>(n));
    if (in.find("\r\n\r\n") != std::string::npos && in.find("}\n") != std::string::npos) {
      return in;
    }
  }
}

class LimitedServer {
 public:
  explicit LimitedServer(size_t cap)
      : server_([this](const ApiRequest& r, auto respond) {
          handled_.push_back(r.method + " " + r.path);
          respond(ApiResponse{200, {{"path", r.path}}});
        }) {
    server_.server().SetMaxConnections(cap);
    server_.server().SetLog([this](const std::string& line) {
      std::lock_guard lock(mu_);
      log_ += line + "\n";
    });
    server_.server().SetUpgradeHandler([this](const ApiRequest&, auto channel) {
      channels_.push_back(channel);
      return std::optional<ApiResponse>();
    });
    server_.Start();
  }
  ~LimitedServer() { server_.Stop(); }

  unsigned short port() const { return server_.port(); }
  testing::HttpServerThread& thread() { return server_; }
  std::vector<std::string> handled() {
    std::vector<std::string> copy;
    server_.OnLoop([&] { copy = handled_; });
    return copy;
  }
  std::string log() {
    std::lock_guard lock(mu_);
    return log_;
  }

 private:
  testing::HttpServerThread server_;
  std::vector<std::string> handled_;                         // on the loop
  std::vector<std::shared_ptr<WebSocketChannel>> channels_;  // on the loop
  std::mutex mu_;
  std::string log_;
};

TEST(HttpServerLimits, AtTheCapTheLongestIdleConnectionMakesRoom) {
  LimitedServer server(2);
  bool closed = false;
  int a = Connect(server.port());
  Send(a, "GET", "/a");
  EXPECT_NE(ReadFor(a, 2000ms, &closed).find("200 OK"), std::string::npos);
  int b = Connect(server.port());
  Send(b, "GET", "/b");
  EXPECT_NE(ReadFor(b, 2000ms, &closed).find("200 OK"), std::string::npos);

  int c = Connect(server.port());
  Send(c, "GET", "/c");
  EXPECT_NE(ReadFor(c, 2000ms, &closed).find("200 OK"), std::string::npos);
  ReadFor(a, 2000ms, &closed);
  EXPECT_TRUE(closed) << "the longest idle connection stays open";
  ReadFor(b, 200ms, &closed);
  EXPECT_FALSE(closed) << "the younger idle connection was closed too";
  for (int fd : {a, b, c}) close(fd);
}

TEST(HttpServerLimits, AConsoleHoldsItsPlaceAndTheExcessIsAnswered503) {
  LimitedServer server(1);
  asio::io_context io;
  websocket::stream<beast::tcp_stream> ws(io);
  beast::get_lowest_layer(ws).connect(
      tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
  ws.handshake("127.0.0.1", "/console");

  int fd = Connect(server.port());
  Send(fd, "GET", "/v1/servers");
  bool closed = false;
  std::string response = ReadFor(fd, 3000ms, &closed);
  if (!closed) ReadFor(fd, 3000ms, &closed);
  close(fd);
  EXPECT_NE(response.find("HTTP/1.1 503"), std::string::npos) << response;
  EXPECT_NE(response.find("Connection: close"), std::string::npos) << response;
  EXPECT_NE(response.find("\"code\":\"TooManyConnections\""), std::string::npos) << response;
  EXPECT_NE(response.find("limit of 1 concurrent API connections"), std::string::npos) << response;
  EXPECT_TRUE(closed);

  ws.close(websocket::close_code::normal);
  bool answered = false;
  for (int i = 0; i < 100 && !answered; ++i) {
    int again = Connect(server.port());
    Send(again, "GET", "/v1/servers");
    answered = ReadFor(again, 1000ms, &closed).find("200 OK") != std::string::npos;
    close(again);
    if (!answered) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(answered) << "the console's place was not given back";
}

TEST(HttpServerLimits, AStateChangingRequestWhoseClientHasGoneIsNotHandled) {
  LimitedServer server(16);
  // The loop is held while the clients send, as when kumod is saturated.
  std::promise<void> release;
  std::promise<void> holding;
  asio::post(server.thread().io(), [&] {
    holding.set_value();
    release.get_future().wait();
  });
  holding.get_future().wait();
  int gone_post = Connect(server.port());
  Send(gone_post, "POST", "/v1/servers");
  shutdown(gone_post, SHUT_WR);
  int gone_delete = Connect(server.port());
  Send(gone_delete, "DELETE", "/v1/servers/x");
  close(gone_delete);
  int gone_get = Connect(server.port());
  Send(gone_get, "GET", "/v1/servers");
  close(gone_get);
  int waiting = Connect(server.port());
  Send(waiting, "POST", "/v1/servers/kept/actions");
  release.set_value();

  bool closed = false;
  EXPECT_NE(ReadFor(waiting, 3000ms, &closed).find("200 OK"), std::string::npos);
  close(waiting);
  ReadFor(gone_post, 3000ms, &closed);
  EXPECT_TRUE(closed);
  close(gone_post);
  auto handled = server.handled();
  EXPECT_EQ(std::count(handled.begin(), handled.end(), "POST /v1/servers"), 0);
  EXPECT_EQ(std::count(handled.begin(), handled.end(), "DELETE /v1/servers/x"), 0);
  EXPECT_EQ(std::count(handled.begin(), handled.end(), "POST /v1/servers/kept/actions"), 1);
  EXPECT_NE(server.log().find("dropped POST /v1/servers from 127.0.0.1:"), std::string::npos)
      << server.log();
  EXPECT_NE(server.log().find("dropped DELETE /v1/servers/x"), std::string::npos) << server.log();
}

TEST(HttpServerLimits, Above80PercentOfTheCapIdleConnectionsAreClosedWithinSeconds) {
  LimitedServer server(10);
  std::vector<int> fds;
  bool closed = false;
  for (int i = 0; i < 9; ++i) {  // the 9th crosses 80%
    fds.push_back(Connect(server.port()));
    Send(fds.back(), "GET", "/idle");
    ASSERT_NE(ReadFor(fds.back(), 2000ms, &closed).find("200 OK"), std::string::npos);
  }
  auto start = std::chrono::steady_clock::now();
  for (int fd : fds) {
    ReadFor(fd, 15000ms, &closed);
    EXPECT_TRUE(closed) << "an idle connection outlived the short timeout";
    close(fd);
  }
  auto took = std::chrono::steady_clock::now() - start;
  // Generous bounds around the 5 s short timeout, far below the usual 60 s.
  EXPECT_GT(took, 3s);
  EXPECT_LT(took, 15s);
}

}  // namespace
}  // namespace kumo::api
