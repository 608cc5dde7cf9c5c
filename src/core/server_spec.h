// What an operator asks for when creating a server, and the checks it must
// pass before anything is stored or started (pure; table-tested).
#pragma once

#include <string>

#include "common/status.h"

namespace kumo::core {

struct ServerSpec {
  std::string name;
  std::string image;
  int vcpus = 1;
  int memory_mib = 256;
  int disk_gib = 1;
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

}  // namespace kumo::core
