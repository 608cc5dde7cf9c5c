// Reading a request's JSON body for the Router's handlers: unknown fields,
// wrong types and malformed JSON become a 400 that names the field.
#pragma once

#include <set>
#include <string>

#include "api/api_types.h"

namespace kumo::api {

inline ApiResponse BadRequest(const std::string& message, const std::string& hint = "") {
  return ErrorResponse(400, codes::kInvalidArgument, message, hint);
}

// Matches `path` against a route pattern ("/v1/servers/{name}"); captures
// {name} (router.cc).
bool Match(const std::string& pattern, const std::string& path, std::string* name);

inline ApiResponse Unauthorized(const std::string& hint) {
  return ErrorResponse(401, codes::kUnauthorized, "a valid bearer token is required", hint);
}

// Parses a JSON object body and refuses unknown fields.
inline bool ParseBody(const ApiRequest& req, const std::set<std::string>& allowed, json* out,
                      ApiResponse* error) {
  if (req.body.empty()) {
    *error = BadRequest("the request needs a JSON object body");
    return false;
  }
  *out = json::parse(req.body, nullptr, false);
  if (out->is_discarded()) {
    *error = BadRequest("the request body is not valid JSON");
    return false;
  }
  if (!out->is_object()) {
    *error = BadRequest("the request body must be a JSON object");
    return false;
  }
  for (const auto& [key, value] : out->items()) {
    if (!allowed.count(key)) {
      std::string known;
      for (const auto& k : allowed) known += (known.empty() ? "" : ", ") + k;
      *error = BadRequest("unknown field '" + key + "'", "known fields: " + known);
      return false;
    }
  }
  return true;
}

// Typed field access with a clear error; false if present with a wrong type.
template <typename T>
bool Field(const json& body, const char* key, T* out, ApiResponse* error, const char* type) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return true;
  bool ok = false;
  if constexpr (std::is_same_v<T, bool>) {
    ok = it->is_boolean();
  } else if constexpr (std::is_same_v<T, int>) {
    ok = it->is_number_integer() && it->get<int64_t>() >= INT32_MIN &&
         it->get<int64_t>() <= INT32_MAX;
  } else {
    ok = it->is_string();
  }
  if (!ok) {
    *error = ErrorResponse(400, codes::kInvalidArgument,
                           std::string("field '") + key + "' must be " + type, "", key);
    return false;
  }
  *out = it->get<T>();
  return true;
}

}  // namespace kumo::api
