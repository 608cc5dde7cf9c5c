#include "api/api_types.h"

namespace kumo::api {

int HttpStatusFor(const std::string& code) {
  if (code == codes::kInvalidArgument) return 400;
  if (code == codes::kNotFound) return 404;
  if (code == codes::kAlreadyExists || code == codes::kServerBusy || code == codes::kInvalidState ||
      code == codes::kGuestAgentNotResponding) {
    return 409;
  }
  return 500;
}

ApiResponse ErrorResponse(int http_status, const std::string& code, const std::string& message,
                          const std::string& hint) {
  json error = {{"code", code}, {"message", message}};
  if (!hint.empty()) error["hint"] = hint;
  return {http_status, {{"error", error}}};
}

ApiResponse ErrorResponse(const Status& status) {
  return ErrorResponse(HttpStatusFor(status.code()), status.code(), status.message(),
                       status.hint());
}

}  // namespace kumo::api
