// ApiClient: a small synchronous HTTP/1.1 client for kumod's REST API, on
// Boost.Beast over TCP. One connection per request, a deadline (30 s by
// default) over connect, send and receive. Failures come back as CliErrors
// with the exit code scripts rely on (cli_error.h).
#pragma once

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli/api_url.h"
#include "cli/cli_error.h"

namespace kumo::cli {

using json = nlohmann::json;

struct HttpReply {
  int status = 0;
  std::string body;
};

// A 2xx reply from the API: the body as received and as JSON.
struct ApiReply {
  int status = 0;
  std::string raw;
  json body;
};

// How a streamed reply (ApiClient::Stream) ended after its 2xx header.
enum class StreamEnd {
  kStopped,  // the chunk handler asked to stop
  kClosed,   // kumod ended the reply
  kLost,     // the connection broke, or nothing came within the idle limit
};

struct StreamOutcome {
  StreamEnd end = StreamEnd::kClosed;
  std::string why;  // for kLost: what happened, for people
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

class ApiClient {
 public:
  // `token` may be empty (only /healthz works then); `token_source` names
  // where it came from, for the hint on a 401.
  ApiClient(ApiUrl url, std::string token, std::string token_source,
            std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // Sends one request to base_path + `target` ("/v1/servers?x=1") and returns
  // the reply whatever its status; a CliError (exit 3) when kumod cannot be
  // reached or does not answer in time.
  Outcome<HttpReply> Send(const std::string& method, const std::string& target,
                          const std::string& body = "") const;

  // Send, then decode: a 2xx reply with a JSON body, or the API's error
  // (message, hint, exit code for its HTTP status).
  Outcome<ApiReply> Call(const std::string& method, const std::string& target,
                         const json* body = nullptr) const;

  // GET base_path + `target` with `headers` added, for a reply that does not
  // end (Server-Sent Events): calls `on_open` once the 2xx header is in (may
  // be empty; false stops at once), then `on_chunk` with the body's bytes as they arrive, until
  // it returns false, kumod closes, or no byte (keep-alives included) comes
  // for `idle_limit`. The connect and header share the usual deadline. A
  // non-2xx reply is the API's error, as with Call.
  Outcome<StreamOutcome> Stream(const std::string& target, const HttpHeaders& headers,
                                const std::function<bool()>& on_open,
                                const std::function<bool(std::string_view)>& on_chunk,
                                std::chrono::milliseconds idle_limit) const;

  // PUT base_path + `target` with `size` bytes read from `fd` as the body
  // (application/octet-stream), streamed in chunks: the file is never held
  // in memory. Sends "Expect: 100-continue" and sends no byte of the body
  // before kumod says to go on, so a refusal (401, 409, 413, 507) comes at
  // once. `progress` is called with the bytes sent so far after each chunk.
  // The final answer may take a while (kumod checks the image): it is
  // awaited for at least 10 minutes. Decoded as with Call.
  Outcome<ApiReply> Upload(const std::string& target, int fd, uint64_t size,
                           const std::function<void(uint64_t sent)>& progress) const;

  const ApiUrl& url() const { return url_; }
  // The same client with another deadline: for a request kumod itself may
  // take long to answer (an exec that runs for minutes).
  ApiClient WithTimeout(std::chrono::milliseconds timeout) const {
    ApiClient copy = *this;
    copy.timeout_ = timeout;
    return copy;
  }

 private:
  CliError Unreachable(const std::string& what) const;
  // Connected, but kumod did not answer within the deadline.
  CliError NoAnswer() const;
  // Connected, then the connection broke (`why`) before kumod answered.
  CliError ConnectionLost(const std::string& why) const;

  ApiUrl url_;
  std::string token_;
  std::string token_source_;
  std::chrono::milliseconds timeout_;
};

// Reads the API token from `path` (first line, surrounding blanks removed).
// Unreadable or empty: a CliError with exit 7 and a hint.
Outcome<std::string> ReadTokenFile(const std::string& path);

}  // namespace kumo::cli
