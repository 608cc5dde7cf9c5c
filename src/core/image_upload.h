// ImageUpload: an image coming in as the body of PUT /v1/images/NAME/disk,
// begun by ImageLibrary::BeginUpload once the request's header has been
// checked. The caller writes the body into it chunk by chunk (nothing is held
// in memory: each chunk goes to the staged file at once, holes stay holes),
// then calls Finish, which checks and registers it exactly as an import from
// a path is (qemu-img on a worker thread, ImageLibrary's promises).
//
// Destroyed before Finish (the client went away, the body was cut short, a
// write failed): the staged file is removed and the name freed; nothing is
// registered. Runs on kumod's event loop.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "common/status.h"
#include "core/image_files.h"
#include "core/image_library.h"
#include "model/records.h"

namespace kumo::core {

class ImageUpload {
 public:
  ImageUpload(ImageLibrary* library, std::weak_ptr<bool> library_alive, ImageImport meta,
              uint64_t size, std::unique_ptr<Staging> staging);
  ~ImageUpload();
  ImageUpload(const ImageUpload&) = delete;
  ImageUpload& operator=(const ImageUpload&) = delete;

  // The next bytes of the body. InvalidArgument past the announced size;
  // Internal when the disk refuses them.
  Status Write(const char* data, size_t n);
  uint64_t received() const { return received_; }
  uint64_t size() const { return size_; }

  // All bytes are in: `done` (on the loop) gets the registered image, or
  // why it was refused (InvalidArgument naming "body" for a body that is
  // not an image kumo takes, or that is shorter than announced).
  void Finish(int64_t now_ms, std::function<void(Result<ImageRecord>)> done);

 private:
  ImageLibrary* library_;
  std::weak_ptr<bool> library_alive_;
  ImageImport meta_;
  uint64_t size_;
  uint64_t received_ = 0;
  std::unique_ptr<Staging> staging_;
  bool handed_over_ = false;
};

}  // namespace kumo::core
