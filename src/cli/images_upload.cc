// `kumo images upload NAME FILE`: PUT /v1/images/NAME/disk with the file
// (on this machine) as the body, streamed; progress on a terminal.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "cli/commands.h"

namespace kumo::cli {
namespace {

std::string UploadTarget(const ImageImportOptions& options) {
  std::string query;
  auto add = [&query](const char* key, const std::optional<std::string>& value) {
    if (value)
      query += (query.empty() ? "?" : "&") + std::string(key) + "=" + EncodePathSegment(*value);
  };
  add("firmware", options.firmware);
  add("login_user", options.login_user);
  add("agent_kind", options.agent_kind);
  add("os", options.os);
  add("user_data_support", options.user_data_support);
  return "/v1/images/" + EncodePathSegment(options.name) + "/disk" + query;
}

// "\ruploading debian: 512 MiB of 1024 MiB (50%)", when the percentage moves.
std::function<void(uint64_t)> ProgressLine(const std::string& name, uint64_t size, FILE* tty) {
  if (!tty) return nullptr;
  return [name, size, tty, shown = -1](uint64_t sent) mutable {
    int percent = size ? static_cast<int>(sent * 100 / size) : 100;
    if (percent == shown) return;
    shown = percent;
    fprintf(tty, "\ruploading %s: %llu of %llu MiB (%d%%)%s", name.c_str(),
            static_cast<unsigned long long>(sent >> 20),
            static_cast<unsigned long long>(size >> 20), percent,
            sent == size ? ", kumod checks it...\n" : "");
    fflush(tty);
  };
}

}  // namespace

int UploadImage(Context& ctx, const ImageImportOptions& options) {
  int fd = open(options.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  struct stat st {};
  if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    std::string why = fd < 0 ? strerror(errno) : "not a regular file";
    if (fd >= 0) close(fd);
    return PrintError(CliError{kExitUsage, "cannot upload " + options.path + ": " + why,
                               "give a qcow2 or raw disk image file on this machine"},
                      ctx.json, ctx.out, ctx.err);
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  auto reply = ctx.api.Upload(UploadTarget(options), fd, size,
                              ProgressLine(options.name, size, isatty(2) ? stderr : nullptr));
  close(fd);
  if (!reply.ok()) return PrintError(reply.error(), ctx.json, ctx.out, ctx.err);
  return PrintNewImage(ctx, *reply, options.name, "uploaded");
}

}  // namespace kumo::cli
