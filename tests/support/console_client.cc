#include "support/console_client.h"

#include <gtest/gtest.h>

// clang-format off
#include <utility>
#include <boost/asio.hpp>
// clang-format on
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

namespace kumo::testing {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = boost::asio::ip::tcp;

struct ConsoleClient::Impl {
  boost::asio::io_context io;
  websocket::stream<beast::tcp_stream> ws{io};
  beast::flat_buffer buffer;
  std::string output;
  bool open = false;

  void ReadMore() {
    ws.async_read(buffer, [this](beast::error_code ec, size_t) {
      if (ec) {
        open = false;
        return;
      }
      output += beast::buffers_to_string(buffer.data());
      buffer.consume(buffer.size());
      ReadMore();
    });
  }
};

ConsoleClient::ConsoleClient() : impl_(std::make_unique<Impl>()) {}
ConsoleClient::~ConsoleClient() {
  beast::error_code ignored;
  if (impl_->open) beast::get_lowest_layer(impl_->ws).socket().close(ignored);
}

bool ConsoleClient::Connect(int port, const std::string& name, const std::string& token,
                            std::string* err, TokenIn token_in, int tail_lines) {
  std::string target = "/v1/servers/" + name + "/console";
  std::string query;
  if (token_in == TokenIn::kQuery) query += "&token=" + token;
  if (tail_lines > 0) query += "&tail=" + std::to_string(tail_lines);
  if (!query.empty()) target += "?" + query.substr(1);
  beast::websocket::response_type response;
  try {
    beast::get_lowest_layer(impl_->ws).connect(tcp::endpoint(
        boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
    if (token_in == TokenIn::kHeader) {
      impl_->ws.set_option(websocket::stream_base::decorator([token](websocket::request_type& req) {
        req.set(beast::http::field::authorization, "Bearer " + token);
      }));
    }
    impl_->ws.binary(true);
    // The asynchronous handshake: Beast 1.74's blocking one leaves the
    // response empty when the server declines.
    beast::error_code ec;
    impl_->ws.async_handshake(response, "127.0.0.1", target,
                              [&ec](beast::error_code e) { ec = e; });
    impl_->io.run();
    impl_->io.restart();
    if (ec) throw beast::system_error(ec);
  } catch (const std::exception& e) {
    *err = std::to_string(response.result_int()) + " " + e.what();
    return false;
  }
  impl_->open = true;
  impl_->ReadMore();
  return true;
}

bool ConsoleClient::Send(const std::string& bytes) {
  if (!impl_->open) return false;
  beast::error_code ec;
  impl_->ws.write(boost::asio::buffer(bytes), ec);
  return !ec;
}

bool ConsoleClient::WaitFor(const std::string& needle, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (impl_->output.find(needle) == std::string::npos) {
    if (std::chrono::steady_clock::now() > end || !impl_->open) {
      return impl_->output.find(needle) != std::string::npos;
    }
    impl_->io.restart();
    impl_->io.run_for(std::chrono::milliseconds(50));
  }
  return true;
}

const std::string& ConsoleClient::output() const { return impl_->output; }
void ConsoleClient::Clear() { impl_->output.clear(); }

bool ConsoleClient::Login(const std::string& user, const std::string& password,
                          std::chrono::milliseconds timeout, const std::string& prompt) {
  auto end = std::chrono::steady_clock::now() + timeout;
  Clear();
  while (!WaitFor("login:", std::chrono::milliseconds(1000))) {
    if (std::chrono::steady_clock::now() > end) return false;
    Send("\n");
  }
  Clear();
  Send(user + "\n");
  // A full distribution's login (PAM, the shell's profile) takes seconds under TCG.
  if (!WaitFor("assword:", std::chrono::milliseconds(30000))) return false;
  Clear();
  Send(password + "\n");
  return WaitFor(prompt, std::chrono::milliseconds(30000));
}

std::string ConsoleClient::Run(const std::string& command, std::chrono::milliseconds timeout) {
  static int counter = 0;
  const std::string marker = "__kumo_done_" + std::to_string(++counter) + "__";
  Clear();
  // The marker is split in the typed text so that only the command's echo
  // of it (not the terminal's echo of what was typed) matches.
  Send(command + "; echo __kumo_''done_" + std::to_string(counter) + "__\n");
  if (!WaitFor(marker, timeout)) return "";
  std::string out = output();
  size_t end = out.rfind(marker);
  // Skip the terminal's echo of the typed line (keep commands short: a line
  // the terminal wraps may split the typed marker).
  size_t typed = out.find("__kumo_''done_" + std::to_string(counter) + "__");
  size_t start = typed == std::string::npos ? std::string::npos : out.find('\n', typed);
  if (start == std::string::npos || start > end) return "";
  return out.substr(start + 1, end - start - 1);
}

std::unique_ptr<ConsoleClient> AttachConsole(int port, const std::string& name,
                                             const std::string& token) {
  auto client = std::make_unique<ConsoleClient>();
  std::string err;
  EXPECT_TRUE(client->Connect(port, name, token, &err)) << name << "'s console: " << err;
  return client;
}

}  // namespace kumo::testing
