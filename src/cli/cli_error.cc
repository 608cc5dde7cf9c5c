#include "cli/cli_error.h"

#include <nlohmann/json.hpp>

namespace kumo::cli {

const char kExitCodeHelp[] =
    "Exit codes:\n"
    "  0  ok\n"
    "  1  other API error (bad request, internal error), or a --wait that ended in error/warning\n"
    "  2  usage error (bad command line, --url that is not http://, unreadable file)\n"
    "  3  cannot reach kumod (connection refused, no answer within 30 s)\n"
    "  4  not found (404: no such server)\n"
    "  5  conflict (409: server busy, wrong state, guest agent not responding, name taken)\n"
    "  6  wait timed out\n"
    "  7  unauthorized (401, or the token cannot be read)\n"
    "Environment: KUMO_URL, KUMO_STATE_DIR, KUMO_TOKEN stand in for --url, --state-dir, "
    "--token.";

int ExitCodeForHttpStatus(int http_status) {
  if (http_status >= 200 && http_status < 300) return kExitOk;
  switch (http_status) {
    case 401:
      return kExitUnauthorized;
    case 404:
      return kExitNotFound;
    case 409:
      return kExitConflict;
    default:
      return kExitApiError;
  }
}

CliError ErrorFromReply(int http_status, const std::string& body, const std::string& url,
                        const std::string& token_source) {
  CliError error;
  error.exit_code = ExitCodeForHttpStatus(http_status);
  if (error.exit_code == kExitOk) error.exit_code = kExitApiError;  // not an error reply
  auto j = nlohmann::json::parse(body, nullptr, false);
  const nlohmann::json* e = nullptr;
  if (j.is_object() && j.contains("error") && j["error"].is_object()) e = &j["error"];
  if (e && e->contains("message") && (*e)["message"].is_string()) {
    error.message = (*e)["message"].get<std::string>();
    if (e->contains("hint") && (*e)["hint"].is_string()) error.hint = (*e)["hint"];
    error.api_body = body;
  } else {
    std::string excerpt = body.substr(0, 200);
    while (!excerpt.empty() && (excerpt.back() == '\n' || excerpt.back() == '\r')) {
      excerpt.pop_back();
    }
    error.message = "HTTP " + std::to_string(http_status) + " from " + url +
                    (excerpt.empty() ? "" : ": " + excerpt);
    error.hint = "is --url (KUMO_URL) pointing at kumod?";
  }
  if (http_status == 401) {
    error.hint = "the token sent came from " + token_source +
                 "; kumod's own is in its STATE_DIR/token: point --state-dir / KUMO_STATE_DIR "
                 "at kumod's state dir, or pass that token with --token / KUMO_TOKEN";
  }
  return error;
}

int PrintError(const CliError& error, bool json_mode, std::ostream& out, std::ostream& err) {
  if (json_mode && !error.api_body.empty()) {
    out << error.api_body;
    if (error.api_body.back() != '\n') out << "\n";
    out.flush();
  }
  err << "error: " << error.message << "\n";
  if (!error.hint.empty()) err << "hint: " << error.hint << "\n";
  err.flush();
  return error.exit_code;
}

}  // namespace kumo::cli
