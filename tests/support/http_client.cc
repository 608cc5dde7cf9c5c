#include "support/http_client.h"

// clang-format off
#include <utility>
#include <boost/asio.hpp>
// clang-format on
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace kumo::testing {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

HttpResult Exchange(int port, http::request<http::string_body>& req) {
  HttpResult result;
  try {
    boost::asio::io_context io;
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(60));
    stream.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"),
                                 static_cast<unsigned short>(port)));
    req.prepare_payload();
    beast::error_code write_error;
    http::write(stream, req, write_error);  // a refused large body may break the pipe:
                                            // the answer can still be read

    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    http::read(stream, buffer, parser);
    result.status = static_cast<int>(parser.get().result_int());
    result.body = parser.get().body();
    for (const auto& field : parser.get()) {
      result.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
  } catch (const std::exception& e) {
    result.status = 0;
    result.body = e.what();
  }
  return result;
}

}  // namespace

std::string HttpResult::Header(const std::string& name) const {
  for (const auto& [key, value] : headers) {
    if (beast::iequals(key, name)) return value;
  }
  return "";
}

HttpResult HttpRequest(int port, const std::string& method, const std::string& target,
                       const std::string& token, const std::string& body,
                       const std::string& content_type) {
  http::request<http::string_body> req(http::string_to_verb(method), target, 11);
  req.set(http::field::host, "127.0.0.1");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  if (!body.empty()) {
    req.set(http::field::content_type, content_type);
    req.body() = body;
  }
  return Exchange(port, req);
}

HttpResult HttpRequestWithHeaders(int port, const std::string& method, const std::string& target,
                                  const HttpHeaders& headers, const std::string& body) {
  http::request<http::string_body> req(http::string_to_verb(method), target, 11);
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = body;
  return Exchange(port, req);
}

}  // namespace kumo::testing
