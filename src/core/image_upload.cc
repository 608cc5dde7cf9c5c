#include "core/image_upload.h"

#include <utility>

namespace kumo::core {

ImageUpload::ImageUpload(ImageLibrary* library, std::weak_ptr<bool> library_alive, ImageImport meta,
                         uint64_t size, std::unique_ptr<Staging> staging)
    : library_(library),
      library_alive_(std::move(library_alive)),
      meta_(std::move(meta)),
      size_(size),
      staging_(std::move(staging)) {}

ImageUpload::~ImageUpload() {
  if (!handed_over_ && library_alive_.lock()) library_->importing_.erase(meta_.name);
}

Status ImageUpload::Write(const char* data, size_t n) {
  if (n > size_ - received_) {
    return Status(codes::kInvalidArgument,
                  "the body is longer than its Content-Length of " + std::to_string(size_))
        .set_field("body");
  }
  if (Status s = WriteSparse(staging_->disk_fd, data, n, static_cast<off_t>(received_)); !s.ok()) {
    return s;
  }
  received_ += n;
  return Status::Ok();
}

void ImageUpload::Finish(int64_t now_ms, std::function<void(Result<ImageRecord>)> done) {
  if (received_ != size_ || !library_alive_.lock()) {
    return done(Status(codes::kInvalidArgument, "the body ended after " +
                                                    std::to_string(received_) + " of its " +
                                                    std::to_string(size_) + " bytes")
                    .set_field("body"));
  }
  handed_over_ = true;
  std::shared_ptr<Staging> staging = std::move(staging_);
  const std::string final_dir = library_->images_dir() + "/" + meta_.name;
  const ImageLibraryConfig& config = library_->config_;
  library_->RunWorker(
      meta_, now_ms,
      [staging, size = static_cast<off_t>(size_), qemu_img = config.qemu_img,
       run_as = config.run_as, final_dir](const std::atomic<bool>&) {
        return Place(*staging, size, qemu_img, run_as, final_dir, "the uploaded image", "body");
      },
      std::move(done));
}

}  // namespace kumo::core
