// HttpServer's uploads on a real listener with a raw client: decided from
// the header alone (a refusal comes before any body byte is sent), the body
// streamed to the sink in bounded chunks, and a client gone midway or a
// stall abandoning the sink unfinished. The sink is a fake that records.
#include <gtest/gtest.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <mutex>

#include "api/http_server.h"
#include "support/http_server_thread.h"

namespace kumo::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// What the sinks saw, shared with the test thread.
struct SinkLog {
  std::mutex mu;
  std::condition_variable changed;
  size_t bytes = 0;
  size_t largest_chunk = 0;
  int finished = 0;
  int abandoned = 0;
  int handled = 0;  // requests that reached Handler

  template <typename F>
  void Update(F f) {
    std::lock_guard lock(mu);
    f();
    changed.notify_all();
  }
  // Waits (at most 20 s: a hang fails instead of blocking the suite).
  bool WaitFor(const std::function<bool()>& ready) {
    std::unique_lock lock(mu);
    return changed.wait_for(lock, std::chrono::seconds(20), ready);
  }
};

class RecordingSink : public UploadSink {
 public:
  explicit RecordingSink(SinkLog& log) : log_(log) {}
  ~RecordingSink() override {
    if (!finished_) log_.Update([&] { ++log_.abandoned; });
  }
  Status Write(const char*, size_t size) override {
    log_.Update([&] {
      log_.bytes += size;
      log_.largest_chunk = std::max(log_.largest_chunk, size);
    });
    return Status::Ok();
  }
  void Finish(std::function<void(ApiResponse)> respond) override {
    finished_ = true;
    size_t bytes = 0;
    log_.Update([&] {
      ++log_.finished;
      bytes = log_.bytes;
    });
    respond({201, {{"bytes", bytes}}});
  }

 private:
  SinkLog& log_;
  bool finished_ = false;
};

class UploadServer {
 public:
  explicit UploadServer(std::chrono::milliseconds idle = std::chrono::seconds(60))
      : server_([this](const ApiRequest&, auto respond) {
          log_.Update([&] { ++log_.handled; });
          respond({200, {{"ok", true}}});
        }) {
    server_.server().SetUploadIdleTimeout(idle);
    server_.server().SetUploadHandler(
        [this](const ApiRequest& r, std::optional<uint64_t> length) -> std::optional<UploadStart> {
          if (r.path != "/upload") return std::nullopt;
          if (r.authorization != "Bearer t") {
            return UploadStart{ErrorResponse(401, codes::kUnauthorized, "no"), nullptr};
          }
          if (!length)
            return UploadStart{ErrorResponse(411, codes::kLengthRequired, "no"), nullptr};
          return UploadStart{std::nullopt, std::make_unique<RecordingSink>(log_)};
        });
    server_.Start();
  }
  ~UploadServer() { server_.Stop(); }
  unsigned short port() const { return server_.port(); }

  // Connects and sends a PUT /upload header (and no body).
  tcp::socket SendHeader(const std::string& extra, asio::io_context& io) {
    tcp::socket socket(io);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_.port()));
    std::string head = "PUT /upload HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n";
    asio::write(socket, asio::buffer(head));
    return socket;
  }

  SinkLog log_;

 private:
  testing::HttpServerThread server_;
};

http::response<http::string_body> ReadReply(tcp::socket& socket, beast::flat_buffer& buffer) {
  http::response<http::string_body> res;
  http::read(socket, buffer, res);
  return res;
}

TEST(HttpServerUpload, ARefusalComesFromTheHeaderAloneBeforeTheBody) {
  UploadServer server;
  asio::io_context io;
  beast::flat_buffer buffer;
  // A GiB announced, not a byte of it sent: the answer must not wait for it.
  auto socket =
      server.SendHeader("Authorization: Bearer wrong\r\nContent-Length: 1073741824\r\n", io);
  auto res = ReadReply(socket, buffer);
  EXPECT_EQ(res.result_int(), 401);
  EXPECT_FALSE(res.keep_alive());
  auto chunked = server.SendHeader("Authorization: Bearer t\r\nTransfer-Encoding: chunked\r\n", io);
  EXPECT_EQ(ReadReply(chunked, buffer).result_int(), 411);
  EXPECT_EQ(server.log_.handled, 0);
}

TEST(HttpServerUpload, TheBodyIsStreamedInBoundedChunks) {
  UploadServer server;
  asio::io_context io;
  beast::flat_buffer buffer;
  const std::string body(3 * 1024 * 1024 + 17, 'k');
  auto socket = server.SendHeader("Authorization: Bearer t\r\nContent-Length: " +
                                      std::to_string(body.size()) + "\r\nExpect: 100-continue\r\n",
                                  io);
  http::response_parser<http::empty_body> interim_parser;
  http::read_header(socket, buffer, interim_parser);
  EXPECT_EQ(interim_parser.get().result_int(), 100);
  asio::write(socket, asio::buffer(body));
  auto res = ReadReply(socket, buffer);
  EXPECT_EQ(res.result_int(), 201);
  EXPECT_EQ(res.body(), "{\"bytes\":" + std::to_string(body.size()) + "}\n");
  std::lock_guard lock(server.log_.mu);
  EXPECT_EQ(server.log_.finished, 1);
  EXPECT_LE(server.log_.largest_chunk, HttpServer::kUploadChunkBytes);
  EXPECT_EQ(server.log_.abandoned, 0);
}

TEST(HttpServerUpload, AClientGoneMidwayAbandonsTheSink) {
  UploadServer server;
  asio::io_context io;
  auto socket = server.SendHeader("Authorization: Bearer t\r\nContent-Length: 1000000\r\n", io);
  asio::write(socket, asio::buffer(std::string(300000, 'k')));
  socket.close();
  EXPECT_TRUE(server.log_.WaitFor([&] { return server.log_.abandoned == 1; }));
  EXPECT_EQ(server.log_.finished, 0);
}

TEST(HttpServerUpload, AStalledUploadIsAbandonedAfterTheIdleTimeout) {
  UploadServer server(std::chrono::milliseconds(200));
  asio::io_context io;
  auto socket = server.SendHeader("Authorization: Bearer t\r\nContent-Length: 1000000\r\n", io);
  asio::write(socket, asio::buffer(std::string(1000, 'k')));
  EXPECT_TRUE(server.log_.WaitFor([&] { return server.log_.abandoned == 1; }));
  char byte;
  beast::error_code ec;
  socket.read_some(asio::buffer(&byte, 1), ec);  // kumod closed its side
  EXPECT_EQ(ec, asio::error::eof);
}

TEST(HttpServerUpload, OtherRequestsAreReadWholeAsBefore) {
  UploadServer server;
  asio::io_context io;
  beast::flat_buffer buffer;
  auto post = [&](const std::string& target, size_t length, const std::string& body) {
    tcp::socket socket(io);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
    std::string head = "POST " + target +
                       " HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(length) +
                       "\r\n\r\n" + body;
    asio::write(socket, asio::buffer(head));
    return ReadReply(socket, buffer).result_int();
  };
  EXPECT_EQ(post("/v1/x", 2, "{}"), 200);
  EXPECT_EQ(post("/v1/x", HttpServer::kMaxBodyBytes + 1, ""), 413);  // refused unread
  std::lock_guard lock(server.log_.mu);
  EXPECT_EQ(server.log_.handled, 1);
}

}  // namespace
}  // namespace kumo::api
