// Errors as values across part boundaries. A Status carries the API's error
// code (e.g. "GuestAgentNotResponding"), a message for people and a hint
// naming the way out; Result<T> is a value or a Status.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace kumo {

class Status {
 public:
  Status() = default;  // ok
  Status(std::string code, std::string message, std::string hint = "")
      : code_(std::move(code)), message_(std::move(message)), hint_(std::move(hint)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_.empty(); }
  const std::string& code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::string& hint() const { return hint_; }
  std::string ToString() const { return ok() ? "ok" : code_ + ": " + message_; }
  // The request field a bad-input error is about ("memory_mib"), so a form
  // can show the message at that field; empty when it is about no one field.
  const std::string& field() const { return field_; }
  Status& set_field(std::string field) {
    field_ = std::move(field);
    return *this;
  }

 private:
  std::string code_;
  std::string message_;
  std::string hint_;
  std::string field_;
};

// Error codes shared by the parts and the API.
namespace codes {
inline constexpr char kInvalidArgument[] = "InvalidArgument";
inline constexpr char kUnauthorized[] = "Unauthorized";  // no or a wrong API token
// Signed in, but the request may be forged (no CSRF token, another origin).
inline constexpr char kForbidden[] = "Forbidden";
inline constexpr char kMethodNotAllowed[] = "MethodNotAllowed";  // a known path, another method
inline constexpr char kPayloadTooLarge[] = "PayloadTooLarge";    // a request body over the limit
inline constexpr char kLengthRequired[] = "LengthRequired";      // an upload without Content-Length
inline constexpr char kNotFound[] = "NotFound";
inline constexpr char kAlreadyExists[] = "AlreadyExists";
inline constexpr char kServerBusy[] = "ServerBusy";
inline constexpr char kInvalidState[] = "InvalidState";
inline constexpr char kGuestAgentNotResponding[] = "GuestAgentNotResponding";
inline constexpr char kGuestCommandFailed[] = "GuestCommandFailed";
inline constexpr char kConflict[] = "Conflict";  // a write based on a stale version
inline constexpr char kHypervisorError[] = "HypervisorError";
inline constexpr char kStoreError[] = "StoreError";
inline constexpr char kStoreFull[] = "StoreFull";  // the state directory's filesystem is full
inline constexpr char kInternal[] = "Internal";
// kumod is at its cap of concurrent API connections (--max-connections).
inline constexpr char kTooManyConnections[] = "TooManyConnections";
}  // namespace codes

template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {}  // NOLINT
  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() { return *value_; }
  const T& value() const { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace kumo
