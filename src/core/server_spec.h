// What an operator asks for when creating a server, and the checks it must
// pass before anything is stored or started (pure; table-tested).
#pragma once

#include <optional>
#include <string>

#include "common/status.h"
#include "model/records.h"

namespace kumo::core {

struct ServerSpec {
  std::string name;
  std::string image;
  int vcpus = 1;
  int memory_mib = 256;
  // Unset: the image's virtual size rounded up to whole GiB (at least
  // kMinDiskGib); set, it may not be smaller than the image (the core checks).
  std::optional<int> disk_gib;
  std::string ssh_key;    // one OpenSSH public key line, optional
  std::string user_data;  // init script or #cloud-config, optional
};

struct SpecLimits {
  static constexpr int kMaxNameLength = 63;
  static constexpr int kMinVcpus = 1, kMaxVcpus = 64;
  static constexpr int kMinMemoryMib = 64, kMaxMemoryMib = 1 << 20;
  static constexpr int kMinDiskGib = 1, kMaxDiskGib = 4096;
  static constexpr size_t kMaxSshKeyBytes = 16 * 1024;
  static constexpr size_t kMaxUserDataBytes = 64 * 1024;
};

// InvalidArgument with a message naming the field, or ok. Does not check that
// the image exists or the name is free: the core does, against the store.
Status ValidateServerName(const std::string& name);
Status ValidateSpec(const ServerSpec& spec);

// The disk a server from `image` gets: spec.disk_gib, or when unset the
// image's virtual size rounded up to whole GiB (at least kMinDiskGib).
// InvalidArgument (field disk_gib, naming both sizes) when the disk asked
// for is smaller than the image: the guest would find its filesystem cut off.
Result<int> DiskGibFor(const ServerSpec& spec, const ImageRecord& image);

}  // namespace kumo::core
