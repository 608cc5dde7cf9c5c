#include "api/api_types.h"

namespace kumo::api {

int HttpStatusFor(const std::string& code) {
  if (code == codes::kInvalidArgument) return 400;
  if (code == codes::kUnauthorized) return 401;
  if (code == codes::kForbidden) return 403;
  if (code == codes::kNotFound) return 404;
  if (code == codes::kMethodNotAllowed) return 405;
  // The request clashes with the server's state: busy, wrong state, its
  // agent silent, or a write based on a stale version. Retrying later (or
  // after reading the server again) may succeed.
  if (code == codes::kAlreadyExists || code == codes::kServerBusy || code == codes::kInvalidState ||
      code == codes::kGuestAgentNotResponding || code == codes::kConflict) {
    return 409;
  }
  if (code == codes::kPayloadTooLarge) return 413;
  if (code == codes::kLengthRequired) return 411;
  // kumod relayed the command and the guest's agent answered with an error
  // (or with a reply of the wrong shape): the failure is upstream of kumod,
  // in the guest, like a gateway's — neither a malformed request (4xx) nor a
  // fault of kumod (500).
  if (code == codes::kGuestCommandFailed) return 502;
  if (code == codes::kTooManyConnections) return 503;
  if (code == codes::kStoreFull) return 507;  // Insufficient Storage
  return 500;
}

ApiResponse ErrorResponse(int http_status, const std::string& code, const std::string& message,
                          const std::string& hint, const std::string& field) {
  json error = {{"code", code}, {"message", message}};
  if (!hint.empty()) error["hint"] = hint;
  if (!field.empty()) error["field"] = field;
  ApiResponse response;
  response.status = http_status;
  response.body = {{"error", error}};
  return response;
}

ApiResponse ErrorResponse(const Status& status) {
  return ErrorResponse(HttpStatusFor(status.code()), status.code(), status.message(), status.hint(),
                       status.field());
}

bool IsStateChanging(const std::string& method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

}  // namespace kumo::api
