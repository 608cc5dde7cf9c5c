// What the CLI tells people and scripts when something fails: a message, a
// hint naming the way out, and an exit code from the table below (also in
// `kumo --help`). Outcome<T> is a value or a CliError.
#pragma once

#include <ostream>
#include <string>
#include <utility>
#include <variant>

namespace kumo::cli {

// Exit codes scripts can rely on.
inline constexpr int kExitOk = 0;
inline constexpr int kExitApiError = 1;  // any other API error; a wait that ended in error/warning
inline constexpr int kExitUsage = 2;     // bad command line (CLI11), bad --url, unreadable file
inline constexpr int kExitUnreachable = 3;   // kumod cannot be reached or did not answer
inline constexpr int kExitNotFound = 4;      // 404: no such server (or endpoint)
inline constexpr int kExitConflict = 5;      // 409: busy, wrong state, agent not responding
inline constexpr int kExitTimeout = 6;       // a wait ran out of time
inline constexpr int kExitUnauthorized = 7;  // 401, or no token to send

// The exit-code table as printed in the --help footer.
extern const char kExitCodeHelp[];

struct CliError {
  CliError() = default;
  CliError(int exit_code, std::string message, std::string hint = "", std::string api_body = "")
      : exit_code(exit_code),
        message(std::move(message)),
        hint(std::move(hint)),
        api_body(std::move(api_body)) {}

  int exit_code = kExitApiError;
  std::string message;
  std::string hint;
  // JSON from the API to print on stdout with --json: the error body, or the
  // server a wait gave up on. May be empty.
  std::string api_body;
};

template <typename T>
class Outcome {
 public:
  Outcome(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  Outcome(CliError error) : v_(std::move(error)) {}  // NOLINT
  bool ok() const { return v_.index() == 0; }
  const CliError& error() const { return std::get<1>(v_); }
  T& operator*() { return std::get<0>(v_); }
  const T& operator*() const { return std::get<0>(v_); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }

 private:
  std::variant<T, CliError> v_;
};

// 2xx → 0, 401 → 7, 404 → 4, 409 → 5, anything else → 1.
int ExitCodeForHttpStatus(int http_status);

// The CliError for a non-2xx reply: message and hint from the API's
// {"error": {...}} body when there is one. `url` names kumod in messages;
// `token_source` says where the token came from, for the 401 hint.
CliError ErrorFromReply(int http_status, const std::string& body, const std::string& url,
                        const std::string& token_source);

// Prints "error: MESSAGE" and "hint: HINT" on `err`; with `json_mode`, also
// the API's error JSON on `out`. Returns the error's exit code.
int PrintError(const CliError& error, bool json_mode, std::ostream& out, std::ostream& err);

}  // namespace kumo::cli
