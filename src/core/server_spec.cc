#include "core/server_spec.h"

#include <algorithm>
#include <cstdio>

#include "cloudinit/user_data.h"

namespace kumo::core {
namespace {

// Bad input in one field of the spec, named so that a form can show it there.
Status Invalid(const char* field, const std::string& message, const std::string& hint = "") {
  return Status(codes::kInvalidArgument, message, hint).set_field(field);
}

Status CheckRange(const char* field, int value, int min, int max, const char* unit) {
  if (value >= min && value <= max) return Status::Ok();
  return Invalid(field, std::string(field) + " must be between " + std::to_string(min) + " and " +
                            std::to_string(max) + unit + ", got " + std::to_string(value));
}

}  // namespace

Status ValidateServerName(const std::string& name) {
  const std::string hint =
      "use 1-63 lowercase letters, digits and '-', starting with a letter (like a host name)";
  if (name.empty() || name.size() > SpecLimits::kMaxNameLength) {
    return Invalid("name", "server name must be 1-63 characters long", hint);
  }
  if (name[0] < 'a' || name[0] > 'z')
    return Invalid("name", "server name must start with a letter", hint);
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return Invalid("name", "server name contains a character that is not allowed", hint);
  }
  if (name.back() == '-') return Invalid("name", "server name must not end with '-'", hint);
  return Status::Ok();
}

Status ValidateSpec(const ServerSpec& spec) {
  if (Status s = ValidateServerName(spec.name); !s.ok()) return s;
  if (spec.image.empty())
    return Invalid("image", "image is required", "list images with: kumo images");
  if (Status s = CheckRange("vcpus", spec.vcpus, SpecLimits::kMinVcpus, SpecLimits::kMaxVcpus, "");
      !s.ok()) {
    return s;
  }
  if (Status s = CheckRange("memory_mib", spec.memory_mib, SpecLimits::kMinMemoryMib,
                            SpecLimits::kMaxMemoryMib, " MiB");
      !s.ok()) {
    return s;
  }
  if (spec.disk_gib) {
    if (Status s = CheckRange("disk_gib", *spec.disk_gib, SpecLimits::kMinDiskGib,
                              SpecLimits::kMaxDiskGib, " GiB");
        !s.ok()) {
      return s;
    }
  }
  if (!spec.ssh_key.empty()) {
    if (spec.ssh_key.size() > SpecLimits::kMaxSshKeyBytes) {
      return Invalid("ssh_key", "ssh_key is larger than 16 KiB");
    }
    if (spec.ssh_key.find_first_of("\r\n") != std::string::npos &&
        spec.ssh_key.find_first_of("\r\n") != spec.ssh_key.size() - 1) {
      return Invalid("ssh_key", "ssh_key must be a single line",
                     "give one OpenSSH public key line");
    }
    bool known = spec.ssh_key.rfind("ssh-", 0) == 0 || spec.ssh_key.rfind("ecdsa-", 0) == 0 ||
                 spec.ssh_key.rfind("sk-", 0) == 0;
    if (!known) {
      return Invalid("ssh_key", "ssh_key is not an OpenSSH public key",
                     "give the contents of a .pub file, e.g. ~/.ssh/id_ed25519.pub");
    }
  }
  if (spec.user_data.size() > SpecLimits::kMaxUserDataBytes) {
    return Invalid("user_data", "user_data is larger than 64 KiB (" +
                                    std::to_string(spec.user_data.size()) + " bytes)");
  }
  if (spec.user_data.find('\0') != std::string::npos) {
    return Invalid("user_data", "user_data must be text (it contains a NUL byte)");
  }
  if (Status s = cloudinit::ValidateUserData(spec.user_data); !s.ok()) {
    return Invalid("user_data", "user_data: " + s.message(), s.hint());
  }
  return Status::Ok();
}

Result<int> DiskGibFor(const ServerSpec& spec, const ImageRecord& image) {
  constexpr int64_t kGib = int64_t{1} << 30;
  const int64_t need = image.virtual_size_bytes;
  const int least =
      static_cast<int>(std::max<int64_t>(SpecLimits::kMinDiskGib, (need + kGib - 1) / kGib));
  if (!spec.disk_gib) return least;
  if (need > 0 && int64_t{*spec.disk_gib} * kGib < need) {
    char size[32];
    snprintf(size, sizeof size, "%.1f GiB", static_cast<double>(need) / kGib);
    return Invalid("disk_gib",
                   "disk_gib " + std::to_string(*spec.disk_gib) + " is smaller than the image " +
                       image.name + " (" + size + "); give at least " + std::to_string(least),
                   "leave disk_gib out to get the image's size");
  }
  return *spec.disk_gib;
}

}  // namespace kumo::core
