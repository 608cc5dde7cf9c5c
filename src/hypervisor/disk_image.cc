#include "hypervisor/disk_image.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

namespace kumo::hypervisor {
namespace {

constexpr size_t kMaxInfoBytes = 1 << 20;

Status NotAnImage(const std::string& message, const std::string& hint = "") {
  return Status(codes::kInvalidArgument, message,
                hint.empty() ? "give a qcow2 or raw disk image without a backing file" : hint)
      .set_field("path");
}

// The first line of qemu-img's complaint, bounded.
std::string FirstLine(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  return line.size() > 300 ? line.substr(0, 300) + "…" : line;
}

}  // namespace

std::string DescribeBytes(int64_t bytes) {
  char out[32];
  snprintf(out, sizeof out, "%.1f GiB", static_cast<double>(bytes) / (int64_t{1} << 30));
  return out;
}

Result<DiskImageInfo> CheckImageInfo(const std::string& info_json) {
  auto j = nlohmann::json::parse(info_json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return NotAnImage("qemu-img cannot read it as a disk image: " + FirstLine(info_json));
  }
  DiskImageInfo info;
  auto format = j.find("format");
  auto size = j.find("virtual-size");
  if (format == j.end() || !format->is_string() || size == j.end() || !size->is_number_integer()) {
    return NotAnImage("qemu-img gives no format or virtual size for it");
  }
  info.format = format->get<std::string>();
  info.virtual_size_bytes = size->get<int64_t>();
  if (info.format != "qcow2" && info.format != "raw") {
    return NotAnImage("its format is " + info.format.substr(0, 40) + "; kumo takes qcow2 or raw",
                      "convert it: qemu-img convert -O qcow2 FILE NEW.qcow2");
  }
  if (j.contains("backing-filename") || j.contains("full-backing-filename")) {
    return NotAnImage("it has a backing file (" + j.value("backing-filename", "").substr(0, 200) +
                          "); kumo takes only self-contained images",
                      "flatten it first: qemu-img convert -O qcow2 FILE NEW.qcow2");
  }
  const auto& data = j.value("format-specific", nlohmann::json::object());
  if (data.is_object() && data.value("data", nlohmann::json::object()).is_object() &&
      data.value("data", nlohmann::json::object()).contains("data-file")) {
    return NotAnImage(
        "its data lives in an external data file; kumo takes only self-contained "
        "images",
        "flatten it first: qemu-img convert -O qcow2 FILE NEW.qcow2");
  }
  if (info.virtual_size_bytes <= 0 || info.virtual_size_bytes > kMaxImageBytes) {
    return NotAnImage("its virtual size " + std::to_string(info.virtual_size_bytes) +
                      " bytes is outside 1 byte to " + DescribeBytes(kMaxImageBytes));
  }
  if (info.format == "raw" &&
      (info.virtual_size_bytes % 512 != 0 || info.virtual_size_bytes < kMinRawImageBytes)) {
    return NotAnImage("it is not a disk image (" + std::to_string(info.virtual_size_bytes) +
                      " bytes of no known image format; a raw image is whole 512-byte sectors, "
                      "at least 1 MiB)");
  }
  return info;
}

Result<DiskImageInfo> InspectDiskImage(const std::string& qemu_img, const std::string& path,
                                       const std::optional<RunAs>& run_as,
                                       std::chrono::seconds timeout) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return Status(codes::kHypervisorError, "cannot make a pipe for qemu-img");
  }
  SpawnOptions options;
  options.run_as = run_as;
  options.output_fd = pipe_fds[1];
  Result<pid_t> pid = SpawnProcess({qemu_img, "info", "--output=json", path}, "/dev/null", options);
  close(pipe_fds[1]);
  if (!pid.ok()) {
    close(pipe_fds[0]);
    return pid.status();
  }
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{pipe_fds[0], POLLIN, 0};
    int ready = poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    char buf[8192];
    ssize_t n = read(pipe_fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (out.size() < kMaxInfoBytes) out.append(buf, static_cast<size_t>(n));
  }
  close(pipe_fds[0]);
  if (timed_out) kill(*pid, SIGKILL);
  int status = 0;
  while (waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return NotAnImage("qemu-img did not finish reading it within " +
                      std::to_string(timeout.count()) + " s");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return NotAnImage("qemu-img cannot read it as a disk image: " + FirstLine(out));
  }
  return CheckImageInfo(out);
}

}  // namespace kumo::hypervisor
