// The Router's routes that take images in and out (router.h,
// core/image_library.h).
#include "api/request_fields.h"
#include "api/router.h"

namespace kumo::api {
namespace {

ApiResponse NoLibrary() {
  return ErrorResponse(503, codes::kInvalidState, "this kumod takes no images through the API",
                       "register images with kumod --image-dir");
}

}  // namespace

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
