// ApiClient::Upload (api_client.h): a file streamed as a PUT body.
#include <unistd.h>

#include <algorithm>
#include <vector>

// clang-format off
#include "cli/api_client.h"
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

constexpr size_t kUploadChunk = 1 << 20;
constexpr size_t kMaxAnswerBytes = 1 << 20;
constexpr std::chrono::minutes kCheckTime{10};

}  // namespace

Outcome<ApiReply> ApiClient::Upload(const std::string& target, int fd, uint64_t size,
                                    const std::function<void(uint64_t)>& progress) const {
  asio::io_context io;
  beast::error_code ec;
  tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(url_.host, std::to_string(url_.port), ec);
  if (ec) return Unreachable("cannot resolve " + url_.host + ": " + ec.message());
  beast::tcp_stream stream(io);
  stream.expires_after(timeout_);
  ec = RunOne(io, [&](auto handler) { stream.async_connect(endpoints, handler); });
  if (ec) return Unreachable(ec == beast::error::timeout ? "no connection in time" : ec.message());

  http::request<http::empty_body> req(http::verb::put, url_.base_path + target, 11);
  SetKumodHeaders(req, url_, token_, "application/json");
  req.set(http::field::content_type, "application/octet-stream");
  req.set(http::field::expect, "100-continue");
  req.content_length(size);
  req.keep_alive(false);
  http::request_serializer<http::empty_body> header(req);
  beast::flat_buffer buffer;
  auto answer = std::make_unique<http::response_parser<http::string_body>>();
  answer->body_limit(kMaxAnswerBytes);
  ec = RunOne(io, [&](auto handler) { http::async_write_header(stream, header, handler); });
  if (!ec) {
    ec = RunOne(io, [&](auto h) { http::async_read_header(stream, buffer, *answer, h); });
  }
  if (ec == beast::error::timeout) return NoAnswer();
  if (ec) return ConnectionLost(ec.message());

  beast::error_code send_error;
  if (answer->get().result_int() == 100) {
    answer = std::make_unique<http::response_parser<http::string_body>>();
    answer->body_limit(kMaxAnswerBytes);
    std::vector<char> chunk(kUploadChunk);
    uint64_t sent = 0;
    while (sent < size && !send_error) {
      ssize_t n = read(fd, chunk.data(), std::min<uint64_t>(chunk.size(), size - sent));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        return CliError{kExitApiError,
                        "the file ended after " + std::to_string(sent) + " of its " +
                            std::to_string(size) + " bytes (did it change meanwhile?)",
                        "kumod took nothing of it"};
      }
      stream.expires_after(timeout_);
      send_error = RunOne(io, [&](auto handler) {
        asio::async_write(stream, asio::buffer(chunk.data(), static_cast<size_t>(n)), handler);
      });
      sent += static_cast<uint64_t>(n);
      if (progress && !send_error) progress(sent);
    }
  }
  // kumod's answer: at once for a refusal (it may arrive while sending),
  // after its check of the image otherwise.
  stream.expires_after(std::max<std::chrono::milliseconds>(timeout_, kCheckTime));
  ec = RunOne(io, [&](auto handler) { http::async_read(stream, buffer, *answer, handler); });
  if (ec == beast::error::timeout) return NoAnswer();
  if (ec) return ConnectionLost(send_error ? send_error.message() : ec.message());
  const int status = static_cast<int>(answer->get().result_int());
  std::string body = std::move(answer->get().body());
  if (status < 200 || status >= 300) {
    return ErrorFromReply(status, body, url_.ToString(), token_source_);
  }
  ApiReply reply;
  reply.status = status;
  reply.body = json::parse(body, nullptr, false);
  reply.raw = std::move(body);
  return reply;
}

}  // namespace kumo::cli
