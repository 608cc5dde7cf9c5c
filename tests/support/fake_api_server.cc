#include "support/fake_api_server.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstdio>

// clang-format off
#include "common/asio.h"
// clang-format on
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace kumo::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

class SocketStream : public FakeStream {
 public:
  SocketStream(tcp::socket& socket, bool chunked, const std::atomic<bool>& stopping)
      : socket_(socket), chunked_(chunked), stopping_(stopping) {}

  bool Write(const std::string& bytes) override {
    if (stopping_ || broken_) return false;
    std::string wire = bytes;
    if (chunked_) {
      if (bytes.empty()) return true;  // an empty chunk would end the body
      char size[32];
      std::snprintf(size, sizeof(size), "%zx\r\n", bytes.size());
      wire = size + bytes + "\r\n";
    }
    beast::error_code ec;
    asio::write(socket_, asio::buffer(wire), ec);
    broken_ = static_cast<bool>(ec);
    return !broken_;
  }

  bool WaitForClientClose(std::chrono::milliseconds limit) override {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!stopping_ && std::chrono::steady_clock::now() < deadline) {
      pollfd p{socket_.native_handle(), POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      char sink[512];
      ssize_t n = recv(socket_.native_handle(), sink, sizeof(sink), MSG_DONTWAIT);
      if (n <= 0) return true;  // closed (or broken)
    }
    return false;
  }

  // Ends a chunked body; a close-delimited one ends with the close.
  void Finish() {
    if (chunked_ && !broken_) {
      beast::error_code ec;
      asio::write(socket_, asio::buffer(std::string("0\r\n\r\n")), ec);
    }
  }

 private:
  tcp::socket& socket_;
  bool chunked_;
  const std::atomic<bool>& stopping_;
  bool broken_ = false;
};

}  // namespace

std::string FakeRequest::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

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
  stopping_ = true;
  // Wakes the blocking accept.
  asio::io_context io;
  tcp::socket wake(io);
  beast::error_code ignored;
  wake.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ignored);
  thread_.join();
  for (auto& t : connections_) t.join();
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
    if (stopping_) return;
    if (ec) continue;
    int fd = socket.release(ec);
    if (ec) continue;
    connections_.emplace_back([this, fd] { Answer(fd); });
  }
}

void FakeApiServer::Answer(int fd) {
  asio::io_context io;
  beast::error_code ec;
  tcp::socket socket(io, tcp::v4(), fd);
  beast::flat_buffer buffer;
  http::request<http::string_body> req;
  http::read(socket, buffer, req, ec);
  if (ec) return;
  FakeRequest fake{std::string(req.method_string()),
                   std::string(req.target()),
                   std::string(req[http::field::authorization]),
                   req.body(),
                   {}};
  for (const auto& field : req) {
    fake.headers[Lower(std::string(field.name_string()))] = std::string(field.value());
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(fake);
  }
  FakeResponse answer = handler_(fake);
  http::response<http::string_body> res(static_cast<http::status>(answer.status), 11);
  res.set(http::field::content_type, answer.content_type);
  res.keep_alive(false);
  if (!answer.stream) {
    res.body() = answer.body;
    res.prepare_payload();
    http::write(socket, res, ec);
  } else {
    res.set(http::field::cache_control, "no-cache");
    if (answer.chunked) res.chunked(true);
    http::response_serializer<http::string_body> head(res);
    http::write_header(socket, head, ec);
    if (!ec) {
      SocketStream stream(socket, answer.chunked, stopping_);
      answer.stream(stream);
      stream.Finish();
    }
  }
  socket.shutdown(tcp::socket::shutdown_both, ec);
}

uint16_t UnusedPort() {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

}  // namespace kumo::testing
