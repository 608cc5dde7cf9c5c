#include "core/image_library.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "cloudinit/user_data.h"
#include "core/image_files.h"
#include "core/image_upload.h"
#include "core/server_spec.h"
#include "hypervisor/disk_image.h"

namespace kumo::core {
namespace {

using hypervisor::DiskImageInfo;

Status Invalid(const char* field, const std::string& message, const std::string& hint = "") {
  return Status(codes::kInvalidArgument, message, hint).set_field(field);
}

Status Errno(const std::string& what) {
  return Status(codes::kInternal, what + ": " + strerror(errno));
}

// A descriptor closed at scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

// The import's file work, on a worker thread: copy into a private directory,
// check the copy with qemu-img, rename it into place as `final_dir`.
// On failure nothing of it is left.
Result<DiskImageInfo> ImportFiles(const ImageImport& import, const ImageLibraryConfig& config,
                                  const std::string& images_dir, const std::string& final_dir,
                                  const std::atomic<bool>& stop) {
  off_t size = 0;
  Result<int> source = OpenSource(import.path, &size);
  if (!source.ok()) return source.status();
  Fd in{*source};
  // Its allocated bytes: holes stay holes in the copy.
  struct stat st {};
  const uint64_t needed = fstat(in.fd, &st) == 0 ? static_cast<uint64_t>(st.st_blocks) * 512 : 0;
  if (Status s = CheckRoom(needed, images_dir, config.keep_free_bytes, "path",
                           "free space on that filesystem, or import a compressed qcow2 "
                           "(qemu-img convert -c -O qcow2)");
      !s.ok()) {
    return s;
  }
  Result<std::unique_ptr<Staging>> staging = Stage(import.name, images_dir, config.run_as);
  if (!staging.ok()) return staging.status();
  if (Status s = CopySparse(in.fd, (*staging)->disk_fd, size, stop); !s.ok()) return s;
  return Place(**staging, static_cast<off_t>(size), config.qemu_img, config.run_as, final_dir,
               import.path, "path");
}

bool Printable(const std::string& text) {
  return std::none_of(text.begin(), text.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

Status ValidateImageName(const std::string& name) {
  if (Status s = ValidateServerName(name); !s.ok()) {
    return Invalid("name",
                   "image name must be 1-63 lowercase letters, digits and '-', starting with a "
                   "letter and not ending with '-'");
  }
  return Status::Ok();
}

Status ValidateMetadataOf(const ImageImport& meta) {
  return ValidateImageMetadata(meta.firmware, meta.login_user, meta.agent_kind, meta.os,
                               meta.user_data_support.empty()
                                   ? DefaultUserDataSupport(meta.agent_kind)
                                   : meta.user_data_support);
}

}  // namespace

std::string DefaultUserDataSupport(const std::string& agent_kind) {
  return agent_kind == "kumo-agent" ? "kumo" : "cloud-init";
}

Status ValidateImageMetadata(const std::string& firmware, const std::string& login_user,
                             const std::string& agent_kind, const std::string& os,
                             const std::string& user_data_support) {
  if (firmware != "bios" && firmware != "uefi") {
    return Invalid("firmware",
                   "firmware must be bios or uefi, got '" + firmware.substr(0, 40) + "'");
  }
  if (agent_kind != "kumo-agent" && agent_kind != "qemu-ga" && agent_kind != "none") {
    return Invalid("agent_kind", "agent_kind must be kumo-agent, qemu-ga or none, got '" +
                                     agent_kind.substr(0, 40) + "'");
  }
  bool user_ok = !login_user.empty() && login_user.size() <= 32 &&
                 ((login_user[0] >= 'a' && login_user[0] <= 'z') || login_user[0] == '_');
  for (char c : login_user) {
    user_ok = user_ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                          c == '-' || c == '.');
  }
  if (!user_ok) {
    return Invalid("login_user", "login_user must be a user name (1-32 of a-z 0-9 _ - .)");
  }
  if (os.size() > 200 || !Printable(os)) {
    return Invalid("os", "os must be at most 200 characters of text on one line");
  }
  if (!cloudinit::ParseUserDataSupport(user_data_support)) {
    return Invalid("user_data_support",
                   "user_data_support must be kumo, cloud-init or none, got '" +
                       user_data_support.substr(0, 40) + "'",
                   "cloud-init for a stock cloud image, kumo for kumo's own image");
  }
  return Status::Ok();
}

Status ValidateImageUpload(const ImageImport& meta) {
  if (Status s = ValidateImageName(meta.name); !s.ok()) return s;
  return ValidateMetadataOf(meta);
}

// The name, the path, then the metadata: each checked once.
Status ValidateImageImport(const ImageImport& import) {
  if (Status s = ValidateImageName(import.name); !s.ok()) return s;
  if (import.path.empty() || import.path[0] != '/' || import.path.size() > 4096 ||
      import.path.find('\0') != std::string::npos) {
    return Invalid("path", "path must be an absolute path on the kumod host",
                   "e.g. /srv/images/debian-12.qcow2");
  }
  return ValidateMetadataOf(import);
}

ImageLibrary::ImageLibrary(
    boost::asio::io_context& io, store::Store& store, ImageLibraryConfig config,
    std::function<std::vector<std::string>(const std::string&)> servers_using)
    : io_(io), store_(store), config_(std::move(config)), servers_using_(std::move(servers_using)) {
  CleanUpAbandonedImports();
}

ImageLibrary::~ImageLibrary() {
  *stopping_ = true;
  for (auto& [id, w] : workers_) {
    if (w.joinable()) w.join();
  }
}

Status ImageLibrary::PrepareImagesDir() {
  const std::string dir = images_dir();
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Errno("create " + dir);
  Fd fd{open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
  if (fd.fd < 0) return Errno("open " + dir);
  return GiveToGroup(fd.fd, config_.run_as, 0710);
}

// What a kumod that died during an import left.
void ImageLibrary::CleanUpAbandonedImports() {
  DIR* d = opendir(images_dir().c_str());
  if (!d) return;
  std::vector<std::string> abandoned;
  while (dirent* e = readdir(d)) {
    if (strncmp(e->d_name, kImportPrefix, sizeof kImportPrefix - 1) == 0) {
      abandoned.push_back(images_dir() + "/" + e->d_name);
    }
  }
  closedir(d);
  std::error_code ec;
  for (const auto& path : abandoned) std::filesystem::remove_all(path, ec);
}

Status ImageLibrary::Reserve(const std::string& name) {
  if (store_.GetImage(name) || importing_.count(name)) {
    return Status(codes::kAlreadyExists, "an image named '" + name + "' exists",
                  "choose another name, or delete the old image first")
        .set_field("name");
  }
  if (Status s = PrepareImagesDir(); !s.ok()) return s;
  importing_.insert(name);
  return Status::Ok();
}

void ImageLibrary::Import(ImageImport import, int64_t now_ms,
                          std::function<void(Result<ImageRecord>)> done) {
  if (import.user_data_support.empty()) {
    import.user_data_support = DefaultUserDataSupport(import.agent_kind);
  }
  if (Status s = ValidateImageImport(import); !s.ok()) return done(s);
  if (Status s = Reserve(import.name); !s.ok()) return done(s);
  const std::string final_dir = images_dir() + "/" + import.name;
  RunWorker(
      import, now_ms,
      [this, import, final_dir](const std::atomic<bool>& stop) {
        return ImportFiles(import, config_, images_dir(), final_dir, stop);
      },
      std::move(done));
}

Result<std::unique_ptr<ImageUpload>> ImageLibrary::BeginUpload(ImageImport meta, uint64_t size) {
  if (meta.user_data_support.empty()) {
    meta.user_data_support = DefaultUserDataSupport(meta.agent_kind);
  }
  if (Status s = ValidateImageUpload(meta); !s.ok()) return s;
  const uint64_t most =
      std::min(config_.max_upload_bytes, static_cast<uint64_t>(hypervisor::kMaxImageBytes));
  if (size == 0 || size > most) {
    return Status(codes::kPayloadTooLarge,
                  "the image is " + std::to_string(size) + " bytes; an upload is 1 byte to " +
                      hypervisor::DescribeBytes(static_cast<int64_t>(most)),
                  "upload a compressed qcow2 (qemu-img convert -c -O qcow2), or raise kumod's "
                  "--image-upload-max-gib")
        .set_field("Content-Length");
  }
  // A taken name is refused first (409): Reserve says so.
  if (store_.GetImage(meta.name) || importing_.count(meta.name)) return Reserve(meta.name);
  if (Status s = PrepareImagesDir(); !s.ok()) return s;
  if (Status s = CheckRoom(size, images_dir(), config_.keep_free_bytes, "Content-Length",
                           "free space on kumod's state filesystem, or upload a compressed qcow2 "
                           "(qemu-img convert -c -O qcow2)");
      !s.ok()) {
    return s;
  }
  Result<std::unique_ptr<Staging>> staging = Stage(meta.name, images_dir(), config_.run_as);
  if (!staging.ok()) return staging.status();
  if (Status s = Reserve(meta.name); !s.ok()) return s;
  return std::make_unique<ImageUpload>(this, alive_, meta, size, std::move(*staging));
}

void ImageLibrary::RunWorker(const ImageImport& import, int64_t now_ms, FileWork work,
                             std::function<void(Result<ImageRecord>)> done) {
  const std::string final_dir = images_dir() + "/" + import.name;
  const int id = next_worker_++;
  auto finish = [this, alive = std::weak_ptr<bool>(alive_), id, import, now_ms, final_dir,
                 done = std::move(done)](Result<DiskImageInfo> info) {
    if (!alive.lock()) return;
    if (auto w = workers_.find(id); w != workers_.end()) {
      w->second.join();  // it has posted this and is ending
      workers_.erase(w);
    }
    importing_.erase(import.name);
    if (!info.ok()) return done(info.status());
    ImageRecord image;
    image.name = import.name;
    image.disk = final_dir + "/disk." + info->format;
    image.format = info->format;
    image.virtual_size_bytes = info->virtual_size_bytes;
    image.firmware = import.firmware;
    image.login_user = import.login_user;
    image.agent_kind = import.agent_kind;
    image.os = import.os;
    image.user_data_support = import.user_data_support;
    image.registered_ms = now_ms;
    image.imported = true;
    if (Status s = store_.PutImage(image); !s.ok()) {
      std::error_code ec;
      std::filesystem::remove_all(final_dir, ec);
      return done(s);
    }
    done(image);
  };
  workers_[id] = std::thread([this, work = std::move(work), stop = stopping_,
                              finish = std::move(finish)] {
    Result<DiskImageInfo> info = work(*stop);
    boost::asio::post(io_, [finish, info = std::move(info)]() mutable { finish(std::move(info)); });
  });
}

Status ImageLibrary::Delete(const std::string& name) {
  auto image = store_.GetImage(name);
  if (!image) {
    return Status(codes::kNotFound, "no image named '" + name + "'", "list images: kumo images");
  }
  std::vector<std::string> users = servers_using_(name);
  if (!users.empty()) {
    std::string named;
    for (size_t i = 0; i < users.size() && i < 5; ++i) named += (i ? ", " : "") + users[i];
    if (users.size() > 5) named += " and " + std::to_string(users.size() - 5) + " more";
    return Status(codes::kInvalidState,
                  "image '" + name + "' is used by " + std::to_string(users.size()) + " server" +
                      (users.size() == 1 ? "" : "s") + ": " + named,
                  "delete those servers first");
  }
  if (Status s = store_.DeleteImage(name); !s.ok()) return s;
  const std::string dir = images_dir() + "/" + name;
  if (image->imported && image->disk.rfind(dir + "/", 0) == 0) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    SyncDir(images_dir());
  }
  return Status::Ok();
}

}  // namespace kumo::core
