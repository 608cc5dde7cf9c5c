// Test support: kumod's HttpServer (api/http_server.h) on 127.0.0.1, any
// port, with its event loop on a thread of its own, for tests that drive it
// with a real client. Header-only, so kumo_test_support does not link
// kumo_api; include it only from tests that do.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <future>
#include <optional>
#include <thread>

#include "api/http_server.h"
#include "common/asio.h"

namespace kumo::testing {

// Construct it, set up server() (upgrade handler, stream options), then
// Start(). REQUIRES: an owner whose handlers touch its own members declares
// this first (the loop, and the sockets on it, outlive those members) and
// calls Stop() first thing in its destructor (no handler runs after).
class HttpServerThread {
 public:
  explicit HttpServerThread(api::HttpServer::Handler handler) : server_(io_, std::move(handler)) {}
  ~HttpServerThread() { Stop(); }
  HttpServerThread(const HttpServerThread&) = delete;
  HttpServerThread& operator=(const HttpServerThread&) = delete;

  // Listens on 127.0.0.1:0 (a failure fails the test) and runs the loop.
  void Start() {
    EXPECT_TRUE(server_.Listen("127.0.0.1:0").ok());
    port_ = server_.port();
    thread_ = std::thread([this] { io_.run(); });
  }
  // Stops the loop and joins its thread; handlers still queued do not run.
  // Idempotent.
  void Stop() {
    work_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

  api::HttpServer& server() { return server_; }
  boost::asio::io_context& io() { return io_; }
  unsigned short port() const { return port_; }

  // Runs `f` on the server's loop and waits for it.
  void OnLoop(const std::function<void()>& f) {
    std::promise<void> done;
    boost::asio::post(io_, [&] {
      f();
      done.set_value();
    });
    done.get_future().wait();
  }

 private:
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_{
      boost::asio::make_work_guard(io_)};
  api::HttpServer server_;
  unsigned short port_ = 0;
  std::thread thread_;
};

}  // namespace kumo::testing
