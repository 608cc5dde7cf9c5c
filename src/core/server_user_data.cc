// ServerCore and user data: the NoCloud seed made at create (the guest reads
// it at boot: cloud-init on stock images, kumo-init on the kumo image) and
// the warnings about it noted in the timeline. What kumo-init reports after
// a boot is InitFollower's (init_follower.h).
#include <sys/stat.h>

#include <filesystem>
#include <random>

#include "cloudinit/seed.h"
#include "cloudinit/seed_image.h"
#include "cloudinit/user_data.h"
#include "core/server_runtime.h"

namespace kumo::core {

namespace {

constexpr size_t kMaxUserDataWarningEvents = 8;

std::string NewInstanceId() {
  std::random_device random;
  std::uniform_int_distribution<int> hex(0, 15);
  std::string id = "i-";
  for (int i = 0; i < 16; ++i) id += "0123456789abcdef"[hex(random)];
  return id;
}

}  // namespace

Status ServerCore::MakeSeed(const ServerRecord& r) {
  std::error_code ec;
  std::filesystem::create_directories(r.run_dir, ec);
  if (ec || chmod(r.run_dir.c_str(), 0700) != 0) {
    return Status(codes::kInternal, "cannot create " + r.run_dir + ": " + ec.message());
  }
  cloudinit::SeedInput in{NewInstanceId(), r.name, r.user_data, r.ssh_key};
  Status s = cloudinit::WriteSeed(in, r.run_dir + "/seed");
  if (s.ok()) s = cloudinit::BuildSeedImage(r.run_dir + "/seed", r.run_dir + "/seed.iso");
  if (!s.ok()) std::filesystem::remove_all(r.run_dir, ec);
  return s;
}

std::vector<std::string> ServerCore::UserDataWarnings(const ServerRecord& r) const {
  if (r.user_data.empty()) return {};
  auto support = cloudinit::UserDataSupport::kKumo;
  if (auto image = store_.GetImage(r.image)) {
    support = cloudinit::ParseUserDataSupport(image->user_data_support).value_or(support);
  }
  auto report = cloudinit::CheckUserData(r.user_data, support);
  if (!report.ok()) return {};
  std::vector<std::string> warnings;
  for (const std::string& w : report->warnings) warnings.push_back("user data: " + w);
  return warnings;
}

std::string ServerCore::LoginUserOf(const ServerRecord& r) const {
  auto image = store_.GetImage(r.image);
  return image ? image->login_user : "root";
}

void ServerCore::NoteUserDataWarnings(const ServerRecord& r) {
  const auto warnings = UserDataWarnings(r);
  for (size_t i = 0; i < warnings.size() && i < kMaxUserDataWarningEvents; ++i) {
    ledger_.Note(r.name, "user-data", warnings[i]);
  }
  if (warnings.size() > kMaxUserDataWarningEvents) {
    ledger_.Note(r.name, "user-data",
                 "user data: " + std::to_string(warnings.size() - kMaxUserDataWarningEvents) +
                     " more warnings like these");
  }
}

}  // namespace kumo::core
