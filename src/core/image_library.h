// ImageLibrary: the images servers are created from, as the API changes them.
// It imports a qcow2 or raw file from a host path into
// STATE_DIR/images/NAME/disk.{qcow2,raw} and deletes images no server uses.
//
// Promises:
// - an import is checked before it is kept: the file is opened without
//   following a symlink, must be a regular file within kMaxImageBytes, and
//   `qemu-img info` (run as the QEMU user, on kumod's private copy, so what
//   was checked is what is kept) must call it qcow2 or raw with no backing or
//   external data file; a refused or failed import leaves nothing behind;
// - the copy (sparse, fsync'd, renamed into place) and qemu-img run on a
//   worker thread: the event loop never waits for them; `done` is called on
//   the loop;
// - a name is taken once: by a stored image or by an import under way;
// - an upload (BeginUpload, image_upload.h) is refused before any byte of it
//   is taken when its size is over max_upload_bytes or would not leave
//   keep_free_bytes free, and is then checked and kept like an import.
//
// Runs on kumod's event loop (the store is used from it only).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/asio.h"
#include "common/status.h"
#include "hypervisor/disk_image.h"
#include "hypervisor/spawn.h"
#include "model/records.h"
#include "store/store.h"

namespace kumo::core {

// What POST /v1/images asks for.
struct ImageImport {
  std::string name;
  std::string path;  // absolute, on the host, read by kumod
  std::string firmware = "bios";
  std::string login_user = "root";
  std::string agent_kind = "kumo-agent";
  std::string os;
  std::string user_data_support;  // "" : DefaultUserDataSupport(agent_kind)
};

// What applies user data when the image does not say: kumo-init beside
// kumo-agent (the kumo image), cloud-init beside anything else (a stock
// cloud image).
std::string DefaultUserDataSupport(const std::string& agent_kind);

// Pure: InvalidArgument naming the field, or ok.
Status ValidateImageImport(const ImageImport& import);
// The metadata checks alone (also for image.json of --image-dir).
Status ValidateImageMetadata(const std::string& firmware, const std::string& login_user,
                             const std::string& agent_kind, const std::string& os,
                             const std::string& user_data_support);

struct ImageLibraryConfig {
  std::string state_dir;
  std::string qemu_img = "qemu-img";
  std::optional<hypervisor::RunAs> run_as;  // qemu-img's identity, and who must read the images
  // What an import leaves free on the images' filesystem at least: the
  // store, the servers' disks and their logs grow there too.
  uint64_t keep_free_bytes = uint64_t{256} << 20;
  // The largest upload taken (kumod --image-upload-max-gib).
  uint64_t max_upload_bytes = uint64_t{64} << 30;
};

class ImageUpload;

// Pure: what BeginUpload checks of an upload's image before its body
// (ValidateImageImport without the path). InvalidArgument naming the field.
Status ValidateImageUpload(const ImageImport& meta);

class ImageLibrary {
 public:
  // `servers_using` names the servers created from an image.
  ImageLibrary(boost::asio::io_context& io, store::Store& store, ImageLibraryConfig config,
               std::function<std::vector<std::string>(const std::string&)> servers_using);
  // Waits for imports under way (they stop at their next chunk).
  ~ImageLibrary();

  // Errors (through `done`): InvalidArgument (field named), AlreadyExists,
  // HypervisorError / Internal (qemu-img or the copy failed).
  void Import(ImageImport import, int64_t now_ms, std::function<void(Result<ImageRecord>)> done);
  // Takes `size` bytes of image `meta` (its path unused) through the
  // returned ImageUpload. Refuses before any byte is written:
  // InvalidArgument (field named), AlreadyExists (name taken),
  // PayloadTooLarge (`size` over max_upload_bytes or 0), StoreFull (`size`
  // would not leave keep_free_bytes free). The name is taken until the
  // upload ends.
  Result<std::unique_ptr<ImageUpload>> BeginUpload(ImageImport meta, uint64_t size);

  // InvalidState (409) while servers use it, naming up to 5; NotFound.
  // Removes STATE_DIR/images/NAME for an imported image; the files of one
  // registered by --image-dir are the operator's and stay.
  Status Delete(const std::string& name);

  std::string images_dir() const { return config_.state_dir + "/images"; }

 private:
  friend class ImageUpload;
  using FileWork = std::function<Result<hypervisor::DiskImageInfo>(const std::atomic<bool>& stop)>;

  // AlreadyExists unless `name` is free; then takes it.
  Status Reserve(const std::string& name);
  // Runs `work` on a worker thread, then (on the loop) frees the name and
  // registers its result as image `import`.
  void RunWorker(const ImageImport& import, int64_t now_ms, FileWork work,
                 std::function<void(Result<ImageRecord>)> done);
  Status PrepareImagesDir();
  void CleanUpAbandonedImports();

  boost::asio::io_context& io_;
  store::Store& store_;
  ImageLibraryConfig config_;
  std::function<std::vector<std::string>(const std::string&)> servers_using_;
  std::set<std::string> importing_;
  std::map<int, std::thread> workers_;
  int next_worker_ = 0;
  std::shared_ptr<std::atomic<bool>> stopping_ = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace kumo::core
