// Test support: a loopback HTTP server standing in for kumod. It answers each
// request with what the handler returns, one connection at a time, on its own
// thread, and records the requests.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace kumo::cli::testing {

struct FakeRequest {
  std::string method;
  std::string target;
  std::string authorization;
  std::string body;
};

struct FakeResponse {
  int status = 200;
  std::string body;
};

class FakeApiServer {
 public:
  using Handler = std::function<FakeResponse(const FakeRequest&)>;
  explicit FakeApiServer(Handler handler);
  ~FakeApiServer();

  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<FakeRequest> requests() const;

 private:
  struct Impl;
  void Serve();

  Handler handler_;
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
  mutable std::mutex mu_;
  std::vector<FakeRequest> requests_;
  bool stopping_ = false;
  std::thread thread_;
};

// A loopback port with nothing listening on it (bound, then released).
uint16_t UnusedPort();

}  // namespace kumo::cli::testing
