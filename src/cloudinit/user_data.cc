#include "cloudinit/user_data.h"

#include "cloudinit/cloud_config.h"

namespace kumo::cloudinit {
namespace {

std::string_view FirstLine(std::string_view text) { return text.substr(0, text.find('\n')); }

std::string_view Trim(std::string_view s) {
  size_t start = s.find_first_not_of(" \t\r");
  if (start == std::string_view::npos) return {};
  size_t end = s.find_last_not_of(" \t\r");
  return s.substr(start, end - start + 1);
}

Status Invalid(std::string message, std::string hint = "") {
  return Status(codes::kInvalidArgument, std::move(message), std::move(hint));
}

}  // namespace

UserDataKind ClassifyUserData(std::string_view user_data) {
  if (user_data.empty()) return UserDataKind::kEmpty;
  if (user_data.starts_with("#!")) return UserDataKind::kScript;
  // cloud-init matches the prefix; "#cloud-config-archive" is another format.
  std::string_view first = Trim(FirstLine(user_data));
  if (first == "#cloud-config") return UserDataKind::kCloudConfig;
  return UserDataKind::kOpaque;
}

const char* UserDataKindName(UserDataKind kind) {
  switch (kind) {
    case UserDataKind::kEmpty:
      return "none";
    case UserDataKind::kScript:
      return "script";
    case UserDataKind::kCloudConfig:
      return "cloud-config";
    case UserDataKind::kOpaque:
      return "opaque";
  }
  return "opaque";
}

const char* UserDataSupportName(UserDataSupport support) {
  switch (support) {
    case UserDataSupport::kKumo:
      return "kumo";
    case UserDataSupport::kCloudInit:
      return "cloud-init";
    case UserDataSupport::kNone:
      return "none";
  }
  return "kumo";
}

std::optional<UserDataSupport> ParseUserDataSupport(std::string_view name) {
  for (auto s : {UserDataSupport::kKumo, UserDataSupport::kCloudInit, UserDataSupport::kNone}) {
    if (name == UserDataSupportName(s)) return s;
  }
  return std::nullopt;
}

bool RunsEveryBoot(std::string_view script) {
  size_t pos = 0;
  while (pos < script.size()) {
    size_t end = script.find('\n', pos);
    if (end == std::string_view::npos) end = script.size();
    if (Trim(script.substr(pos, end - pos)) == kEveryBootMarker) return true;
    pos = end + 1;
  }
  return false;
}

Result<UserDataReport> CheckUserData(std::string_view user_data, UserDataSupport support) {
  if (user_data.size() > kMaxUserDataBytes) {
    return Invalid("user data is " + std::to_string(user_data.size()) +
                       " bytes; the limit is 64 KiB (65536 bytes)",
                   "install larger files from the script itself, e.g. by downloading them");
  }
  UserDataReport report;
  report.kind = ClassifyUserData(user_data);
  switch (report.kind) {
    case UserDataKind::kEmpty:
      break;
    case UserDataKind::kScript: {
      std::string_view shebang = FirstLine(user_data);
      if (Trim(shebang.substr(2)).empty()) {
        return Invalid("user data starts with '#!' but names no interpreter",
                       "start a script with e.g. #!/bin/sh");
      }
      if (shebang.ends_with('\r')) {
        report.warnings.push_back(
            "the script has Windows line endings (CRLF): its interpreter will not be found; "
            "save it with Unix line endings");
      }
      report.every_boot = RunsEveryBoot(user_data);
      if (report.every_boot && support == UserDataSupport::kCloudInit) {
        report.warnings.push_back(
            "the line '" + std::string(kEveryBootMarker) +
            "' is kumo-init's: cloud-init runs the script once per instance; for every boot use "
            "a #cloud-config bootcmd");
      }
      break;
    }
    case UserDataKind::kCloudConfig: {
      auto config = ParseCloudConfig(user_data);
      if (!config.ok()) return config.status();
      // cloud-init applies all of it; the warnings are about kumo-init.
      if (support == UserDataSupport::kKumo) report.warnings = std::move(config->warnings);
      break;
    }
    case UserDataKind::kOpaque:
      if (support != UserDataSupport::kKumo) break;
      report.warnings.push_back(
          "user data is neither a '#!' script nor '#cloud-config': the kumo image ignores it "
          "(images with cloud-init may understand it, e.g. MIME multi-part or #include)");
      break;
  }
  if (support == UserDataSupport::kNone && report.kind != UserDataKind::kEmpty) {
    report.warnings.push_back(
        "the image applies no user data (user_data_support: none): it is passed in the "
        "server's seed, but nothing in the guest runs it");
  }
  return report;
}

Status ValidateUserData(std::string_view user_data) { return CheckUserData(user_data).status(); }

}  // namespace kumo::cloudinit
