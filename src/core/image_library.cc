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
#include "core/server_spec.h"
#include "hypervisor/disk_image.h"

namespace kumo::core {
namespace {

using hypervisor::DiskImageInfo;

constexpr size_t kChunk = 1 << 20;
constexpr char kImportPrefix[] = ".import-";

Status Invalid(const char* field, const std::string& message, const std::string& hint = "") {
  return Status(codes::kInvalidArgument, message, hint).set_field(field);
}

Status Errno(const std::string& what) {
  return Status(codes::kInternal, what + ": " + strerror(errno));
}

bool AllZero(const char* p, size_t n) {
  return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

// A descriptor closed at scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

// Opens the source: a regular file, never through a symlink, never blocking
// on a FIFO or device.
Result<int> OpenSource(const std::string& path, off_t* size) {
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    if (errno == ELOOP) return Invalid("path", path + " is a symlink; give the file itself");
    return Invalid("path", "cannot open " + path + ": " + strerror(errno),
                   "give a file kumod may read");
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return Invalid("path", path + " is not a regular file");
  }
  if (st.st_size <= 0 || st.st_size > hypervisor::kMaxImageBytes) {
    close(fd);
    return Invalid("path", path + " is " + std::to_string(st.st_size) +
                               " bytes; an image is 1 byte to " +
                               hypervisor::DescribeBytes(hypervisor::kMaxImageBytes));
  }
  fcntl(fd, F_SETFL, 0);
  *size = st.st_size;
  return fd;
}

// Whether the images directory has room for the copy of `in` (its allocated
// bytes: holes stay holes) and still `keep_free` bytes for the store and the
// servers' disks. StoreFull (507) naming the figures when not.
Status CheckRoomFor(int in, const std::string& images_dir, uint64_t keep_free) {
  struct stat st {};
  struct statvfs fs {};
  if (fstat(in, &st) != 0 || statvfs(images_dir.c_str(), &fs) != 0) return Status::Ok();
  const uint64_t needed = static_cast<uint64_t>(st.st_blocks) * 512;
  const uint64_t free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  if (free_bytes >= needed + keep_free) return Status::Ok();
  return Status(codes::kStoreFull,
                "not enough space for the image in " + images_dir + ": its copy needs " +
                    hypervisor::DescribeBytes(static_cast<int64_t>(needed)) + " and " +
                    hypervisor::DescribeBytes(static_cast<int64_t>(keep_free)) +
                    " must stay free, but " +
                    hypervisor::DescribeBytes(static_cast<int64_t>(free_bytes)) + " are free",
                "free space on that filesystem, or import a compressed qcow2 (qemu-img convert "
                "-c -O qcow2)")
      .set_field("path");
}

// Copies `in` to `out` keeping holes (runs of zeros) sparse, then fsyncs.
Status CopySparse(int in, int out, off_t size, const std::atomic<bool>& stop) {
  std::vector<char> buf(kChunk);
  off_t done = 0;
  while (done < size) {
    if (stop) return Status(codes::kInternal, "kumod is stopping");
    ssize_t n = pread(in, buf.data(), buf.size(), done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("read the image");
    if (n == 0) break;  // it shrank meanwhile: what was read is what is checked
    if (!AllZero(buf.data(), static_cast<size_t>(n))) {
      for (ssize_t w = 0; w < n;) {
        ssize_t m = pwrite(out, buf.data() + w, static_cast<size_t>(n - w), done + w);
        if (m < 0 && errno == EINTR) continue;
        if (m < 0) return Errno("write the image copy");
        w += m;
      }
    }
    done += n;
  }
  if (ftruncate(out, done) != 0) return Errno("size the image copy");
  if (fsync(out) != 0) return Errno("fsync the image copy");
  return Status::Ok();
}

Status GiveToGroup(int fd, const std::optional<hypervisor::RunAs>& run_as, mode_t mode) {
  if (!run_as) return Status::Ok();
  if (fchown(fd, static_cast<uid_t>(-1), run_as->gid) != 0 || fchmod(fd, mode) != 0) {
    return Errno("give the image to the QEMU group");
  }
  return Status::Ok();
}

void SyncDir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

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
  if (Status s = CheckRoomFor(in.fd, images_dir, config.keep_free_bytes); !s.ok()) return s;
  std::string tmp = images_dir + "/" + kImportPrefix + import.name + "-XXXXXX";
  if (!mkdtemp(tmp.data())) return Errno("create " + tmp);
  auto fail = [&tmp](Status s) {
    std::error_code ec;
    std::filesystem::remove_all(tmp, ec);
    return s;
  };
  Fd dir{open(tmp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
  if (dir.fd < 0) return fail(Errno("open " + tmp));
  if (Status s = GiveToGroup(dir.fd, config.run_as, 0710); !s.ok()) return fail(s);
  Fd out{openat(dir.fd, "disk", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)};
  if (out.fd < 0) return fail(Errno("create the image copy"));
  if (Status s = GiveToGroup(out.fd, config.run_as, 0640); !s.ok()) return fail(s);
  if (Status s = CopySparse(in.fd, out.fd, size, stop); !s.ok()) return fail(s);
  Result<DiskImageInfo> info =
      hypervisor::InspectDiskImage(config.qemu_img, tmp + "/disk", config.run_as);
  if (!info.ok()) {
    Status s = info.status();
    return fail(Status(s.code(), import.path + ": " + s.message(), s.hint()).set_field("path"));
  }
  std::string disk = "disk." + info->format;
  if (renameat(dir.fd, "disk", dir.fd, disk.c_str()) != 0) return fail(Errno("rename the copy"));
  fsync(dir.fd);
  if (renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, final_dir.c_str(), RENAME_NOREPLACE) != 0) {
    if (errno == EEXIST || errno == ENOTEMPTY) {
      return fail(Status(codes::kAlreadyExists,
                         final_dir + " exists though no image by that name is registered",
                         "move it away, or import under another name")
                      .set_field("name"));
    }
    return fail(Errno("move the image into " + final_dir));
  }
  SyncDir(images_dir);
  return info;
}

bool Printable(const std::string& text) {
  return std::none_of(text.begin(), text.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
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

Status ValidateImageImport(const ImageImport& import) {
  if (Status s = ValidateServerName(import.name); !s.ok()) {
    return Invalid("name",
                   "image name must be 1-63 lowercase letters, digits and '-', starting with a "
                   "letter and not ending with '-'");
  }
  if (import.path.empty() || import.path[0] != '/' || import.path.size() > 4096 ||
      import.path.find('\0') != std::string::npos) {
    return Invalid("path", "path must be an absolute path on the kumod host",
                   "e.g. /srv/images/debian-12.qcow2");
  }
  return ValidateImageMetadata(import.firmware, import.login_user, import.agent_kind, import.os,
                               import.user_data_support.empty()
                                   ? DefaultUserDataSupport(import.agent_kind)
                                   : import.user_data_support);
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

void ImageLibrary::Import(ImageImport import, int64_t now_ms,
                          std::function<void(Result<ImageRecord>)> done) {
  if (import.user_data_support.empty()) {
    import.user_data_support = DefaultUserDataSupport(import.agent_kind);
  }
  if (Status s = ValidateImageImport(import); !s.ok()) return done(s);
  if (store_.GetImage(import.name) || importing_.count(import.name)) {
    return done(Status(codes::kAlreadyExists, "an image named '" + import.name + "' exists",
                       "choose another name, or delete the old image first")
                    .set_field("name"));
  }
  if (Status s = PrepareImagesDir(); !s.ok()) return done(s);
  importing_.insert(import.name);
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
  workers_[id] = std::thread([this, import, final_dir, stop = stopping_,
                              finish = std::move(finish)] {
    Result<DiskImageInfo> info = ImportFiles(import, config_, images_dir(), final_dir, *stop);
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
