#include "cli/api_client.h"

#include <string.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <limits>

// clang-format off
#include "cli/beast_call.h"
#include "cli/table.h"
#include "common/asio.h"
// clang-format on
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace kumo::cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t kMaxReplyBytes = 64 * 1024 * 1024;
constexpr size_t kMaxErrorBytes = 64 * 1024;  // an error reply to a stream

http::request<http::string_body> BuildRequest(const ApiUrl& url, const std::string& token,
                                              const std::string& method, const std::string& target,
                                              const std::string& body, const char* accept) {
  http::request<http::string_body> req(http::string_to_verb(method), url.base_path + target, 11);
  SetKumodHeaders(req, url, token, accept);
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.keep_alive(false);
  req.prepare_payload();
  return req;
}

}  // namespace

ApiClient::ApiClient(ApiUrl url, std::string token, std::string token_source,
                     std::chrono::milliseconds timeout)
    : url_(std::move(url)),
      token_(std::move(token)),
      token_source_(std::move(token_source)),
      timeout_(timeout) {}

CliError ApiClient::Unreachable(const std::string& what) const {
  return CliError{kExitUnreachable, "cannot reach kumod at " + url_.ToString() + ": " + what,
                  "is kumod running? Start it (kumod --listen HOST:PORT), or point --url / "
                  "KUMO_URL at it"};
}

CliError ApiClient::NoAnswer() const {
  return CliError{
      kExitUnreachable,
      "kumod at " + url_.ToString() + " did not answer within " + FormatSeconds(timeout_) + " s",
      "kumod may be overloaded or stuck; look at its log"};
}

CliError ApiClient::ConnectionLost(const std::string& why) const {
  return CliError{kExitUnreachable,
                  "lost the connection to kumod at " + url_.ToString() + ": " + why,
                  "is --url (KUMO_URL) pointing at kumod? Look at kumod's log"};
}

Outcome<HttpReply> ApiClient::Send(const std::string& method, const std::string& target,
                                   const std::string& body) const {
  asio::io_context io;
  beast::error_code ec;
  tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(url_.host, std::to_string(url_.port), ec);
  if (ec) return Unreachable("cannot resolve " + url_.host + ": " + ec.message());

  auto req = BuildRequest(url_, token_, method, target, body, "application/json");

  beast::tcp_stream stream(io);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxReplyBytes);
  beast::error_code connect_error, write_error, read_error;
  bool read_done = false;

  // Async operations under one deadline (tcp_stream's timeout covers only
  // asynchronous operations), run to completion here: synchronous for the caller.
  stream.expires_after(timeout_);
  stream.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) {
    if (e) {
      connect_error = e;
      return;
    }
    http::async_write(stream, req, [&](beast::error_code e, size_t) {
      // A refused body (413) may break the pipe; the answer can still be read.
      write_error = e;
      http::async_read(stream, buffer, parser, [&](beast::error_code e, size_t) {
        read_error = e;
        read_done = true;
      });
    });
  });
  io.run();

  if (connect_error) {
    if (connect_error == beast::error::timeout) {
      return Unreachable("no connection within " + FormatSeconds(timeout_) + " s");
    }
    return Unreachable(connect_error.message());
  }
  if (!read_done || read_error) {
    beast::error_code e = read_error ? read_error : write_error;
    if (e == beast::error::timeout) return NoAnswer();
    if (write_error && write_error != beast::error::timeout) e = write_error;
    return ConnectionLost(e.message());
  }
  HttpReply reply;
  reply.status = static_cast<int>(parser.get().result_int());
  reply.body = std::move(parser.get().body());
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  return reply;
}

Outcome<ApiReply> ApiClient::Call(const std::string& method, const std::string& target,
                                  const json* body) const {
  auto sent = Send(method, target, body ? body->dump() : "");
  if (!sent.ok()) return sent.error();
  if (sent->status < 200 || sent->status >= 300) {
    return ErrorFromReply(sent->status, sent->body, url_.ToString(), token_source_);
  }
  ApiReply reply;
  reply.status = sent->status;
  reply.body = json::parse(sent->body, nullptr, false);
  if (reply.body.is_discarded()) {
    return CliError{kExitApiError,
                    "the reply from " + url_.ToString() + target + " (HTTP " +
                        std::to_string(sent->status) + ") is not JSON",
                    "is --url (KUMO_URL) pointing at kumod?"};
  }
  reply.raw = std::move(sent->body);
  return reply;
}

Outcome<StreamOutcome> ApiClient::Stream(const std::string& target, const HttpHeaders& headers,
                                         const std::function<bool()>& on_open,
                                         const std::function<bool(std::string_view)>& on_chunk,
                                         std::chrono::milliseconds idle_limit) const {
  asio::io_context io;
  beast::error_code ec;
  tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(url_.host, std::to_string(url_.port), ec);
  if (ec) return Unreachable("cannot resolve " + url_.host + ": " + ec.message());
  auto req = BuildRequest(url_, token_, "GET", target, "", "text/event-stream");
  for (const auto& [name, value] : headers) req.set(name, value);

  beast::tcp_stream stream(io);
  stream.expires_after(timeout_);
  ec = RunOne(io, [&](auto handler) { stream.async_connect(endpoints, handler); });
  if (ec == beast::error::timeout) {
    return Unreachable("no connection within " + FormatSeconds(timeout_) + " s");
  }
  if (ec) return Unreachable(ec.message());

  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());  // a stream has no end
  ec = RunOne(io, [&](auto handler) { http::async_write(stream, req, handler); });
  if (!ec) {
    ec =
        RunOne(io, [&](auto handler) { http::async_read_header(stream, buffer, parser, handler); });
  }
  if (ec == beast::error::timeout) return NoAnswer();
  if (ec) return ConnectionLost(ec.message());

  const int status = static_cast<int>(parser.get().result_int());
  const bool ok = status >= 200 && status < 300;
  if (ok && on_open && !on_open()) return StreamOutcome{StreamEnd::kStopped, ""};
  std::string error_body;
  char chunk[16 * 1024];
  while (!parser.is_done()) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof(chunk);
    stream.expires_after(ok ? idle_limit : timeout_);
    ec = RunOne(io, [&](auto handler) { http::async_read_some(stream, buffer, parser, handler); });
    size_t got = sizeof(chunk) - parser.get().body().size;
    if (got > 0) {
      if (!ok) {
        error_body.append(chunk, std::min(got, kMaxErrorBytes - error_body.size()));
        if (error_body.size() >= kMaxErrorBytes) break;
      } else if (!on_chunk(std::string_view(chunk, got))) {
        return StreamOutcome{StreamEnd::kStopped, ""};
      }
    }
    if (ec == http::error::need_buffer) ec = {};
    if (ec) break;
  }
  if (!ok) return ErrorFromReply(status, error_body, url_.ToString(), token_source_);
  if (!ec) return StreamOutcome{StreamEnd::kClosed, ""};
  if (ec == beast::error::timeout) {
    return StreamOutcome{StreamEnd::kLost,
                         "nothing from kumod for " + FormatSeconds(idle_limit) + " s"};
  }
  return StreamOutcome{StreamEnd::kLost, ec.message()};
}

Outcome<std::string> ReadTokenFile(const std::string& path) {
  const std::string hint =
      "kumod writes its token to STATE_DIR/token: run as a user that can read it, point "
      "--state-dir / KUMO_STATE_DIR at kumod's state dir, or pass --token / KUMO_TOKEN";
  errno = 0;
  std::ifstream in(path);
  if (!in) {
    std::string why = errno ? strerror(errno) : "cannot open";
    return CliError{kExitUnauthorized, "cannot read the API token " + path + ": " + why, hint};
  }
  std::string token;
  std::getline(in, token);
  const char* blanks = " \t\r\n";
  size_t first = token.find_first_not_of(blanks);
  size_t last = token.find_last_not_of(blanks);
  token = first == std::string::npos ? "" : token.substr(first, last - first + 1);
  if (token.empty())
    return CliError{kExitUnauthorized, "the token file " + path + " is empty", hint};
  return token;
}

}  // namespace kumo::cli
