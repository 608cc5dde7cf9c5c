// The Router's routes that take images in and out (router.h,
// core/image_library.h).
#include "api/request_fields.h"
#include "api/router.h"
#include "core/image_upload.h"

namespace kumo::api {
namespace {

ApiResponse NoLibrary() {
  return ErrorResponse(503, codes::kInvalidState, "this kumod takes no images through the API",
                       "register images with kumod --image-dir");
}

// The body of PUT /v1/images/{name}/disk, into the image library.
class ImageUploadSink : public UploadSink {
 public:
  ImageUploadSink(std::unique_ptr<core::ImageUpload> upload, core::ServerCore& core)
      : upload_(std::move(upload)), core_(core) {}
  Status Write(const char* data, size_t size) override { return upload_->Write(data, size); }
  void Finish(std::function<void(ApiResponse)> respond) override {
    upload_->Finish(core_.NowMs(), [respond](Result<ImageRecord> image) {
      if (!image.ok()) return respond(ErrorResponse(image.status()));
      respond({201, ImageJson(*image)});
    });
  }

 private:
  std::unique_ptr<core::ImageUpload> upload_;
  core::ServerCore& core_;
};

constexpr char kUploadPattern[] = "/v1/images/{name}/disk";

// The image's metadata from the query: its fields, each at most once.
bool UploadMetadata(const ApiRequest& req, core::ImageImport* meta, ApiResponse* error) {
  const std::map<std::string, std::string*> fields = {
      {"firmware", &meta->firmware},
      {"login_user", &meta->login_user},
      {"agent_kind", &meta->agent_kind},
      {"os", &meta->os},
      {"user_data_support", &meta->user_data_support}};
  for (const auto& [key, value] : req.query) {
    auto field = fields.find(key);
    if (field == fields.end()) {
      *error = ErrorResponse(
          400, codes::kInvalidArgument, "unknown query parameter '" + key.substr(0, 40) + "'",
          "known: agent_kind, firmware, login_user, os, user_data_support", key.substr(0, 40));
      return false;
    }
    *field->second = value;
  }
  return true;
}

}  // namespace

std::optional<UploadStart> Router::HandleUpload(const ApiRequest& req,
                                                std::optional<uint64_t> content_length) {
  std::string name;
  if (req.method != "PUT" || !Match(kUploadPattern, req.path, &name)) return std::nullopt;
  ApiResponse refusal;
  if (!Find(req, &name, &refusal)) return UploadStart{refusal, nullptr};
  if (!images_) return UploadStart{NoLibrary(), nullptr};
  if (!content_length) {
    return UploadStart{ErrorResponse(411, codes::kLengthRequired,
                                     "an image upload needs a Content-Length (chunked bodies "
                                     "are not taken)",
                                     "send the file with its size, e.g. kumo images upload or "
                                     "curl -T FILE",
                                     "Content-Length"),
                       nullptr};
  }
  if (req.content_type != "application/octet-stream") {
    return UploadStart{
        ErrorResponse(400, codes::kInvalidArgument,
                      "an image upload's Content-Type must be application/octet-stream, got '" +
                          req.content_type.substr(0, 60) + "'",
                      "", "Content-Type"),
        nullptr};
  }
  core::ImageImport meta;
  meta.name = name;
  if (!UploadMetadata(req, &meta, &refusal)) return UploadStart{refusal, nullptr};
  auto upload = images_->BeginUpload(meta, *content_length);
  if (!upload.ok()) return UploadStart{ErrorResponse(upload.status()), nullptr};
  return UploadStart{std::nullopt, std::make_unique<ImageUploadSink>(std::move(*upload), core_)};
}

ApiResponse Router::UploadNeedsStream(const ApiRequest&, const std::string&) {
  if (!images_) return NoLibrary();
  return ErrorResponse(500, codes::kInternal, "this kumod's HTTP server takes no uploads");
}

void Router::ImportImage(const ApiRequest& req, const std::string&, Respond respond) {
  if (!images_) return respond(NoLibrary());
  json body;
  ApiResponse error;
  if (!ParseBody(
          req, {"name", "path", "firmware", "login_user", "agent_kind", "os", "user_data_support"},
          &body, &error)) {
    return respond(error);
  }
  core::ImageImport import;
  if (!Field(body, "name", &import.name, &error, "a string") ||
      !Field(body, "path", &import.path, &error, "a string") ||
      !Field(body, "firmware", &import.firmware, &error, "a string") ||
      !Field(body, "login_user", &import.login_user, &error, "a string") ||
      !Field(body, "agent_kind", &import.agent_kind, &error, "a string") ||
      !Field(body, "os", &import.os, &error, "a string") ||
      !Field(body, "user_data_support", &import.user_data_support, &error, "a string")) {
    return respond(error);
  }
  for (const char* required : {"name", "path"}) {
    if (!body.contains(required)) {
      return respond(ErrorResponse(400, codes::kInvalidArgument,
                                   std::string("field '") + required + "' is required", "",
                                   required));
    }
  }
  images_->Import(import, core_.NowMs(), [respond](Result<ImageRecord> image) {
    if (!image.ok()) return respond(ErrorResponse(image.status()));
    respond({201, ImageJson(*image)});
  });
}

ApiResponse Router::DeleteImage(const ApiRequest&, const std::string& name) {
  if (!images_) return NoLibrary();
  if (Status s = images_->Delete(name); !s.ok()) return ErrorResponse(s);
  return {200, {{"deleted", name}}};
}

}  // namespace kumo::api
