// User data ("init scripts") as kumo sees it when a server is created: what
// kind it is, whether it is acceptable, and what the kumo guest image will and
// will not do with it. Pure functions; kumod calls ValidateUserData (or
// CheckUserData, to show the warnings) before anything is stored.
//
// Kinds, by the first line (as cloud-init decides):
//   ""               no user data
//   "#!..."          a script, run at first boot (per instance-id); a line
//                    "# kumo: every-boot" makes it run at every boot
//   "#cloud-config"  YAML, the subset in cloud_config.h applied by the kumo
//                    image; the whole document is passed on to cloud-init
//   anything else    accepted as opaque data (MIME multi-part, #include,
//                    gzip, ...) for images whose cloud-init understands it;
//                    the kumo image ignores it, and a warning says so
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace kumo::cloudinit {

inline constexpr size_t kMaxUserDataBytes = 64 * 1024;

// A line of a `#!` script that is exactly this (surrounding blanks ignored)
// makes the kumo image run the script at every boot, not only the first.
inline constexpr char kEveryBootMarker[] = "# kumo: every-boot";

enum class UserDataKind { kEmpty, kScript, kCloudConfig, kOpaque };

// What applies user data in the image (ImageRecord::user_data_support):
//   kKumo      the kumo image's kumo-init: scripts, and the cloud-config
//              subset of cloud_config.h
//   kCloudInit cloud-init, which applies all of it
//   kNone      nothing: the seed is there, but nothing in the guest reads it
enum class UserDataSupport { kKumo, kCloudInit, kNone };

// "kumo", "cloud-init", "none"; and back (nullopt for anything else).
const char* UserDataSupportName(UserDataSupport support);
std::optional<UserDataSupport> ParseUserDataSupport(std::string_view name);

UserDataKind ClassifyUserData(std::string_view user_data);
// "none", "script", "cloud-config", "opaque".
const char* UserDataKindName(UserDataKind kind);

// True if `script` has an every-boot marker line.
bool RunsEveryBoot(std::string_view script);

struct UserDataReport {
  UserDataKind kind = UserDataKind::kEmpty;
  bool every_boot = false;            // scripts only
  std::vector<std::string> warnings;  // things the image will not do with it
};

// Errors: InvalidArgument — larger than 64 KiB, a `#!` line naming no
// interpreter, or a #cloud-config that is not valid YAML or has a field of
// the wrong type (the message names the line and column). The same for
// every image; only the warnings depend on what applies the user data.
Result<UserDataReport> CheckUserData(std::string_view user_data,
                                     UserDataSupport support = UserDataSupport::kKumo);

// CheckUserData without the report: what kumod calls at create.
Status ValidateUserData(std::string_view user_data);

}  // namespace kumo::cloudinit
