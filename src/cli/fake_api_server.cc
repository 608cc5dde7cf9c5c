#include "cli/fake_api_server.h"

// clang-format off
#include "common/asio.h"
// clang-format on
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace kumo::cli::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct FakeApiServer::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
};

FakeApiServer::FakeApiServer(Handler handler)
    : handler_(std::move(handler)), impl_(std::make_unique<Impl>()) {
  port_ = impl_->acceptor.local_endpoint().port();
  thread_ = std::thread([this] { Serve(); });
}

FakeApiServer::~FakeApiServer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  // Wakes the blocking accept.
  asio::io_context io;
  tcp::socket wake(io);
  beast::error_code ignored;
  wake.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ignored);
  thread_.join();
}

std::vector<FakeRequest> FakeApiServer::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

void FakeApiServer::Serve() {
  while (true) {
    beast::error_code ec;
    tcp::socket socket(impl_->io);
    impl_->acceptor.accept(socket, ec);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
    }
    if (ec) continue;
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    http::read(socket, buffer, req, ec);
    if (ec) continue;
    FakeRequest fake{std::string(req.method_string()), std::string(req.target()),
                     std::string(req[http::field::authorization]), req.body()};
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(fake);
    }
    FakeResponse answer = handler_(fake);
    http::response<http::string_body> res(static_cast<http::status>(answer.status), 11);
    res.set(http::field::content_type, "application/json");
    res.keep_alive(false);
    res.body() = answer.body;
    res.prepare_payload();
    http::write(socket, res, ec);
    socket.shutdown(tcp::socket::shutdown_both, ec);
  }
}

uint16_t UnusedPort() {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

}  // namespace kumo::cli::testing
