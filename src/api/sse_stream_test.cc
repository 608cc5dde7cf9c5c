// Server-Sent Events on a real HttpServer (127.0.0.1, any port) with a plain
// socket client that decodes the HTTP framing itself: what goes over the
// wire, heartbeats, the bound on a client that stops reading, and the end.
#include "api/sse_stream.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "api/http_server.h"
#include "support/http_server_thread.h"

namespace kumo::api {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

bool Eventually(const std::function<bool()>& done, milliseconds timeout = milliseconds(10000)) {
  auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

// kumod's HTTP server on its own thread: GET /events opens an event stream
// (kept in streams()); anything else is a JSON 200.
class SseServer {
 public:
  explicit SseServer(EventStreamOptions options = {})
      : server_([this](const ApiRequest& r, auto respond) {
          if (r.path != "/events") return respond(ApiResponse{200, {{"path", r.path}}});
          last_event_id_ = r.last_event_id;
          ApiResponse response;
          response.stream = [this](std::shared_ptr<EventStream> stream) {
            stream->SetCloseHandler([this] { ++closes_; });
            std::lock_guard lock(mu_);
            streams_.push_back(std::dynamic_pointer_cast<BeastEventStream>(stream));
          };
          respond(response);
        }) {
    server_.server().SetEventStreamOptions(options);
    server_.Start();
  }
  ~SseServer() { server_.Stop(); }

  unsigned short port() const { return server_.port(); }
  int closes() const { return closes_; }
  std::string last_event_id() {
    std::string id;
    OnLoop([&] { id = last_event_id_; });
    return id;
  }
  // The n-th stream opened (from 0), once it is open.
  std::shared_ptr<BeastEventStream> stream(size_t n) {
    std::shared_ptr<BeastEventStream> s;
    Eventually([&] {
      std::lock_guard lock(mu_);
      if (streams_.size() > n) s = streams_[n];
      return s != nullptr;
    });
    return s;
  }

  // Runs `f` on the server's loop and waits for it.
  void OnLoop(const std::function<void()>& f) { server_.OnLoop(f); }

  // Sends 16 KiB messages (ids from 1), `burst` of them every millisecond,
  // until Send refuses one. Records the most bytes ever queued. A burst of
  // 1 is slower than the socket drains, so the kernel's buffers fill before
  // the stream's queue grows.
  void Flood(std::shared_ptr<BeastEventStream> stream, int burst) {
    auto timer = std::make_shared<asio::steady_timer>(server_.io());
    auto tick = std::make_shared<std::function<void()>>();
    *tick = [this, stream, burst, timer, weak = std::weak_ptr<std::function<void()>>(tick)] {
      for (int i = 0; i < burst; ++i) {
        SseMessage m{std::to_string(flood_sent_ + 1), "", std::string(16 * 1024, 'x')};
        if (!stream->Send(m)) {
          flood_refused_ = true;
          return;
        }
        ++flood_sent_;
        max_queued_ = std::max<size_t>(max_queued_, stream->queued_bytes());
      }
      timer->expires_after(milliseconds(1));
      timer->async_wait([weak](auto) {
        if (auto t = weak.lock()) (*t)();
      });
    };
    floods_.push_back(tick);
    asio::post(server_.io(), [tick] { (*tick)(); });
  }
  bool flood_refused() const { return flood_refused_; }
  int flood_sent() const { return flood_sent_; }
  size_t max_queued() const { return max_queued_; }

 private:
  testing::HttpServerThread server_;
  std::mutex mu_;
  std::vector<std::shared_ptr<BeastEventStream>> streams_;
  std::string last_event_id_;
  std::atomic<int> closes_{0};
  std::atomic<bool> flood_refused_{false};
  std::atomic<int> flood_sent_{0};
  std::atomic<size_t> max_queued_{0};
  std::vector<std::shared_ptr<std::function<void()>>> floods_;
};

// A blocking client on a plain socket that undoes the HTTP framing (chunked
// or close-delimited) and hands out the body one SSE block at a time.
class SseClient {
 public:
  ~SseClient() { CloseSocket(); }

  // `receive_buffer` > 0 shrinks the socket's receive buffer, so that a
  // client that stops reading stops the server's writes sooner.
  bool Connect(unsigned short port, const std::string& request, int receive_buffer = 0) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    if (receive_buffer > 0) {
      setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return false;
    return send(fd_, request.data(), request.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(request.size());
  }

  // The response header ("" if it did not come in time).
  std::string ReadHeader(milliseconds timeout = milliseconds(5000)) {
    auto deadline = Clock::now() + timeout;
    size_t end;
    while ((end = raw_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill(deadline)) return "";
    }
    std::string header = raw_.substr(0, end + 4);
    raw_.erase(0, end + 4);
    chunked_ = header.find("Transfer-Encoding: chunked\r\n") != std::string::npos;
    header_done_ = true;
    Decode();
    return header;
  }

  // The next block of the body, up to and including its blank line; "" at
  // the end of the body or on timeout.
  std::string NextBlock(milliseconds timeout = milliseconds(5000)) {
    auto deadline = Clock::now() + timeout;
    size_t end;
    while ((end = body_.find("\n\n")) == std::string::npos) {
      if (ended_ || !Fill(deadline)) return "";
    }
    std::string block = body_.substr(0, end + 2);
    body_.erase(0, end + 2);
    return block;
  }

  // Reads until the server closes the connection; true if it did in time.
  bool ReadToEof(milliseconds timeout = milliseconds(5000)) {
    auto deadline = Clock::now() + timeout;
    while (!eof_) {
      if (!Fill(deadline) && !eof_) return false;
    }
    return true;
  }

  bool ended() const { return ended_; }  // the last chunk came
  bool eof() const { return eof_; }
  void CloseSocket() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  // Reads what has arrived (waiting until `deadline`); false on timeout or
  // at the end of the connection.
  bool Fill(Clock::time_point deadline) {
    if (eof_) return false;
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    pollfd p{fd_, POLLIN, 0};
    if (left <= 0 || poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    char buf[64 * 1024];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    raw_.append(buf, static_cast<size_t>(n));
    if (header_done_) Decode();
    return true;
  }

  void Decode() {
    if (!chunked_) {
      body_ += raw_;
      raw_.clear();
      return;
    }
    while (!ended_) {
      size_t line_end = raw_.find("\r\n");
      if (line_end == std::string::npos) return;
      size_t size = std::stoul(raw_.substr(0, line_end), nullptr, 16);
      if (raw_.size() < line_end + 2 + size + 2) return;
      EXPECT_EQ(raw_.substr(line_end + 2 + size, 2), "\r\n") << "bad chunk framing";
      if (size == 0) ended_ = true;
      body_ += raw_.substr(line_end + 2, size);
      raw_.erase(0, line_end + 2 + size + 2);
    }
  }

  int fd_ = -1;
  std::string raw_, body_;
  bool header_done_ = false;
  bool chunked_ = false;
  bool ended_ = false;
  bool eof_ = false;
};

constexpr char kGet[] = "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

TEST(SseStream, SendsRetryThenTheMessagesInOrderThenEnds) {
  SseServer server;
  SseClient client;
  ASSERT_TRUE(client.Connect(server.port(),
                             "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             "Accept: text/event-stream\r\nLast-Event-ID: 41\r\n\r\n"));
  std::string header = client.ReadHeader();
  EXPECT_EQ(header.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << header;
  EXPECT_NE(header.find("Content-Type: text/event-stream\r\n"), std::string::npos) << header;
  EXPECT_NE(header.find("Cache-Control: no-cache\r\n"), std::string::npos) << header;
  EXPECT_NE(header.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << header;
  EXPECT_EQ(header.find("Content-Length"), std::string::npos) << header;
  EXPECT_EQ(client.NextBlock(), "retry: 1000\n\n");

  auto stream = server.stream(0);
  ASSERT_TRUE(stream);
  EXPECT_EQ(server.last_event_id(), "41");
  server.OnLoop([&] {
    EXPECT_TRUE(stream->Send({"42", "server", "{\"name\":\"web\"}"}));
    EXPECT_TRUE(stream->Send({"43", "", "line one\nline two"}));
    EXPECT_TRUE(stream->Send({"", "note", ""}));
    stream->Close();
    EXPECT_TRUE(stream->closed());
    EXPECT_FALSE(stream->Send({"44", "", "too late"}));
  });
  EXPECT_EQ(client.NextBlock(), "id: 42\nevent: server\ndata: {\"name\":\"web\"}\n\n");
  EXPECT_EQ(client.NextBlock(), "id: 43\ndata: line one\ndata: line two\n\n");
  EXPECT_EQ(client.NextBlock(), "event: note\ndata: \n\n");
  EXPECT_EQ(client.NextBlock(), "");
  EXPECT_TRUE(client.ended()) << "a closed stream ends with the last chunk";
  EXPECT_TRUE(client.ReadToEof());
  EXPECT_TRUE(Eventually([&] { return server.closes() == 1; }));
  server.OnLoop([&] {
    EXPECT_FALSE(stream->connected());
    EXPECT_EQ(stream->queued_bytes(), 0u);
  });
}

TEST(SseStream, Http10IsCloseDelimited) {
  SseServer server;
  SseClient client;
  ASSERT_TRUE(client.Connect(server.port(), "GET /events HTTP/1.0\r\n\r\n"));
  std::string header = client.ReadHeader();
  EXPECT_EQ(header.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << header;
  EXPECT_EQ(header.find("Transfer-Encoding"), std::string::npos) << header;
  EXPECT_EQ(header.find("Content-Length"), std::string::npos) << header;
  EXPECT_EQ(client.NextBlock(), "retry: 1000\n\n");
  auto stream = server.stream(0);
  server.OnLoop([&] {
    stream->Send({"1", "", "x"});
    stream->Close();
  });
  EXPECT_EQ(client.NextBlock(), "id: 1\ndata: x\n\n");
  EXPECT_TRUE(client.ReadToEof());
  EXPECT_EQ(client.NextBlock(), "");
}

TEST(SseStream, AnIdleStreamGetsHeartbeatComments) {
  SseServer server({milliseconds(50)});
  SseClient client;
  ASSERT_TRUE(client.Connect(server.port(), kGet));
  ASSERT_NE(client.ReadHeader(), "");
  EXPECT_EQ(client.NextBlock(), "retry: 1000\n\n");
  auto start = Clock::now();
  EXPECT_EQ(client.NextBlock(), ": keep-alive\n\n");
  EXPECT_EQ(client.NextBlock(), ": keep-alive\n\n");
  EXPECT_LT(Clock::now() - start, milliseconds(2000));
  // Messages and heartbeats interleave on the same stream.
  server.OnLoop([&] { server.stream(0)->Send({"1", "", "x"}); });
  std::string block;
  do {
    block = client.NextBlock();
  } while (block == ": keep-alive\n\n");
  EXPECT_EQ(block, "id: 1\ndata: x\n\n");
  EXPECT_EQ(server.closes(), 0);
}

// A client that stops reading, then reads again before the write timeout:
// it gets every message Send accepted, in order, then the notice, then the
// end of the stream.
TEST(SseStream, AClientThatFallsBehindIsDroppedWithANotice) {
  const size_t kBound = 256 * 1024;
  SseServer server({milliseconds(15000), kBound, milliseconds(10000)});
  SseClient client;
  ASSERT_TRUE(client.Connect(server.port(), kGet, 4096));
  ASSERT_NE(client.ReadHeader(), "");
  auto stream = server.stream(0);
  ASSERT_TRUE(stream);
  server.Flood(stream, 16);
  ASSERT_TRUE(Eventually([&] { return server.flood_refused(); }, milliseconds(20000)))
      << "sent " << server.flood_sent() << " messages without a drop";
  EXPECT_TRUE(Eventually([&] { return server.closes() == 1; }));
  EXPECT_LE(server.max_queued(), kBound);
  server.OnLoop([&] {
    EXPECT_TRUE(stream->dropped());
    EXPECT_TRUE(stream->closed());
    EXPECT_LE(stream->queued_bytes(), kBound);
    EXPECT_FALSE(stream->Send({"", "", "after the drop"}));
  });

  EXPECT_EQ(client.NextBlock(), "retry: 1000\n\n");
  for (int id = 1; id <= server.flood_sent(); ++id) {
    std::string block = client.NextBlock();
    ASSERT_EQ(block.substr(0, block.find('\n')), "id: " + std::to_string(id));
  }
  std::string notice = client.NextBlock();
  EXPECT_EQ(notice.rfind("event: dropped\ndata: {\"reason\":\"", 0), 0u) << notice;
  EXPECT_NE(notice.find("256 KiB"), std::string::npos) << notice;
  EXPECT_EQ(client.NextBlock(), "");
  EXPECT_TRUE(client.ended());
  EXPECT_TRUE(client.ReadToEof());
  EXPECT_EQ(server.closes(), 1);
}

// A client that never reads again: after the drop the connection is closed
// within the write timeout and its queue freed, while another stream on the
// same server goes on.
TEST(SseStream, AClientThatNeverReadsIsClosedAndOthersGoOn) {
  const size_t kBound = 256 * 1024;
  SseServer server({milliseconds(15000), kBound, milliseconds(300)});
  SseClient stalled, healthy;
  ASSERT_TRUE(stalled.Connect(server.port(), kGet, 4096));
  ASSERT_NE(stalled.ReadHeader(), "");
  auto stuck = server.stream(0);
  ASSERT_TRUE(healthy.Connect(server.port(), kGet));
  ASSERT_NE(healthy.ReadHeader(), "");
  EXPECT_EQ(healthy.NextBlock(), "retry: 1000\n\n");
  auto fine = server.stream(1);
  ASSERT_TRUE(stuck && fine);

  server.Flood(stuck, 1);
  ASSERT_TRUE(Eventually([&] { return server.flood_refused(); }, milliseconds(20000)));
  EXPECT_LE(server.max_queued(), kBound);
  bool connected = true;
  size_t queued = 1;
  ASSERT_TRUE(Eventually([&] {
    server.OnLoop([&] {
      connected = stuck->connected();
      queued = stuck->queued_bytes();
    });
    return !connected;
  })) << "the stalled connection stays open";
  EXPECT_EQ(queued, 0u);
  EXPECT_TRUE(stuck->dropped());

  for (int i = 1; i <= 3; ++i) {
    server.OnLoop([&] { EXPECT_TRUE(fine->Send({std::to_string(i), "", "still here"})); });
    EXPECT_EQ(healthy.NextBlock(), "id: " + std::to_string(i) + "\ndata: still here\n\n");
  }
  EXPECT_FALSE(fine->closed());
  EXPECT_EQ(server.closes(), 1);
  // The stalled client finds its connection closed, without the notice
  // (the queue holding it was freed) and without the last chunk.
  EXPECT_TRUE(stalled.ReadToEof());
  EXPECT_FALSE(stalled.ended());
}

TEST(SseStream, ThePeerGoingAwayCallsTheCloseHandlerOnce) {
  SseServer server;
  SseClient client;
  ASSERT_TRUE(client.Connect(server.port(), kGet));
  ASSERT_NE(client.ReadHeader(), "");
  auto stream = server.stream(0);
  ASSERT_TRUE(stream);
  client.CloseSocket();
  ASSERT_TRUE(Eventually([&] { return server.closes() == 1; }));
  std::atomic<int> late_calls{0};
  server.OnLoop([&] {
    EXPECT_TRUE(stream->closed());
    EXPECT_FALSE(stream->connected());
    EXPECT_FALSE(stream->Send({"", "", "nobody listens"}));
    stream->Close();  // nothing more happens
    // A handler set after the end is still called, once, from the loop.
    stream->SetCloseHandler([&] { ++late_calls; });
    EXPECT_EQ(late_calls, 0);
  });
  EXPECT_TRUE(Eventually([&] { return late_calls == 1; }));
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(server.closes(), 1);
  EXPECT_EQ(late_calls, 1);
}

TEST(SseStream, OtherRequestsOnTheServerAreUnaffected) {
  SseServer server;
  SseClient client;
  ASSERT_TRUE(client.Connect(server.port(), "GET /other HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string header = client.ReadHeader();
  EXPECT_NE(header.find("Content-Type: application/json\r\n"), std::string::npos) << header;
  EXPECT_NE(header.find("Content-Length"), std::string::npos) << header;
}

}  // namespace
}  // namespace kumo::api
