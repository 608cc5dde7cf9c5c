// What ApiClient's requests share (api_client.cc, api_client_upload.cc): one
// asynchronous Beast operation run to completion (synchronous for the
// caller, under the stream's deadline), and the headers every request to
// kumod carries. Private to the CLI's .cc files.
#pragma once

#include <string>

// clang-format off
#include "cli/api_url.h"
#include "common/asio.h"
// clang-format on
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace kumo::cli {

// Runs one asynchronous operation on `io` to completion: `start` is given
// the completion handler.
template <typename Start>
boost::beast::error_code RunOne(boost::asio::io_context& io, Start&& start) {
  boost::beast::error_code result;
  start([&result](boost::beast::error_code e, auto&&...) { result = e; });
  io.restart();
  io.run();
  return result;
}

// Host, user agent, `accept` and the bearer token (when there is one).
template <typename Body>
void SetKumodHeaders(boost::beast::http::request<Body>& req, const ApiUrl& url,
                     const std::string& token, const char* accept) {
  namespace http = boost::beast::http;
  req.set(http::field::host, url.Authority());
  req.set(http::field::user_agent, "kumo-cli");
  req.set(http::field::accept, accept);
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
}

}  // namespace kumo::cli
