// UploadSink: where HttpServer streams a request body that an upload route
// (PUT /v1/images/NAME/disk) took on the strength of its header alone, chunk
// by chunk: nothing holds the whole body in memory.
//
// A sink destroyed before Finish was abandoned (the client went away, the
// body was cut short, no byte came within the upload idle timeout, a write
// failed): it must keep nothing of it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "api/api_types.h"
#include "common/status.h"

namespace kumo::api {

class UploadSink {
 public:
  virtual ~UploadSink() = default;
  // The next bytes of the body. An error ends the upload: it is answered
  // with that error and the connection closed.
  virtual Status Write(const char* data, size_t size) = 0;
  // The whole body is in: `respond` is called once, on the event loop.
  virtual void Finish(std::function<void(ApiResponse)> respond) = 0;
};

// An upload route's answer to a request header: a refusal, answered at once
// without reading the body (the connection is then closed), or the sink.
struct UploadStart {
  std::optional<ApiResponse> refusal;
  std::unique_ptr<UploadSink> sink;
};

}  // namespace kumo::api
