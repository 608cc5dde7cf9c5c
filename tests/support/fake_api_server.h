// Test support: a loopback HTTP server standing in for kumod. It answers each
// request with what the handler returns, records the requests, and serves
// each connection on a thread of its own, so a held-open stream does not
// block other requests.
//
// A response may be a stream instead of a body (Server-Sent Events, like
// kumod's GET /v1/watch): the header goes out at once, then the stream
// function writes chunks while the connection stays open; returning from it
// closes the connection.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace kumo::testing {

struct FakeRequest {
  std::string method;
  std::string target;
  std::string authorization;
  std::string body;
  std::map<std::string, std::string> headers;  // every header, names in lower case

  // A header's value, "" when it was not sent; `name` in lower case.
  std::string Header(const std::string& name) const;
};

// The open connection a stream writes to.
class FakeStream {
 public:
  virtual ~FakeStream() = default;
  // Writes `bytes` as they are (one chunk of the body when chunked). False
  // once the client has gone or the server is stopping.
  virtual bool Write(const std::string& bytes) = 0;
  // Waits until the client closes the connection, the server stops, or
  // `limit` passes. True if the client closed it.
  virtual bool WaitForClientClose(std::chrono::milliseconds limit) = 0;
};

struct FakeResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  // When set, the reply is a stream (see above): no Content-Length, the body
  // chunked if `chunked`, else delimited by closing the connection.
  std::function<void(FakeStream&)> stream = nullptr;
  bool chunked = false;
};

class FakeApiServer {
 public:
  using Handler = std::function<FakeResponse(const FakeRequest&)>;
  explicit FakeApiServer(Handler handler);
  // Stops accepting, tells open streams to end (Write returns false,
  // WaitForClientClose returns), and joins every thread.
  ~FakeApiServer();

  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<FakeRequest> requests() const;

 private:
  struct Impl;
  void Serve();
  void Answer(int fd);

  Handler handler_;
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
  mutable std::mutex mu_;
  std::vector<FakeRequest> requests_;
  std::vector<std::thread> connections_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// A loopback port with nothing listening on it (bound, then released).
uint16_t UnusedPort();

}  // namespace kumo::testing
