#include "e2e/guest_vm.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/foreground_qemu.h"

namespace kumo::testing {

std::string GuestVm::image_file(const std::string& name) const {
  return std::string(KUMO_GUEST_IMAGE_DIR) + "/" + name;
}

bool GuestVm::MakeSpec(std::string* err) {
  std::ifstream in(image_file("image.json"));
  auto image = nlohmann::json::parse(in, nullptr, false);
  if (!image.is_object()) {
    *err = "cannot read " + image_file("image.json") + " (build target guest-image)";
    return false;
  }
  spec_ = hypervisor::MachineSpec{};
  spec_.name = "guest-vm";
  spec_.memory_mib = 256;
  spec_.vcpus = 1;
  spec_.kernel = image_file(image.value("kernel", "vmlinuz"));
  spec_.initrd = image_file(image.value("initrd", "initrd.img"));
  spec_.cmdline = image.value("cmdline", "");
  spec_.base_disk = image_file(image.value("disk", "rootfs.qcow2"));
  const char* accel = std::getenv("KUMO_TEST_ACCEL");
  spec_.accel = accel ? accel : "tcg";
  spec_.paths.run_dir = dir_.path().string();
  Status valid = hypervisor::ValidateSpec(spec_);
  if (!valid.ok()) *err = valid.ToString();
  return valid.ok();
}

bool GuestVm::CreateDisk(std::string* err) {
  if (!MakeSpec(err)) return false;
  ChildProcess img;
  if (!img.Start(hypervisor::BuildOverlayArgv(QEMU_IMG_PATH, spec_, spec_.paths.disk()),
                 path("qemu-img.log"), err)) {
    return false;
  }
  int status = img.WaitExit(std::chrono::seconds(30));
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    *err = "qemu-img create failed: " + ReadFile(path("qemu-img.log"));
    return false;
  }
  return true;
}

bool GuestVm::UseDisk(const std::string& disk, std::string* err) {
  if (!MakeSpec(err)) return false;
  std::error_code ec;
  std::filesystem::copy_file(disk, spec_.paths.disk(),
                             std::filesystem::copy_options::overwrite_existing, ec);
  if (ec) *err = "cannot copy " + disk + ": " + ec.message();
  return !ec;
}

bool GuestVm::Start(int boot, const std::string& seed_iso, std::string* err) {
  boot_ = boot;
  spec_.seed_image = seed_iso;
  struct stat st {};
  log_start_ = stat(spec_.paths.console_log().c_str(), &st) == 0 ? st.st_size : 0;
  started_ = std::chrono::steady_clock::now();
  console_ = std::make_unique<ForegroundConsole>(spec_.paths);
  if (!console_->ok()) {
    *err = "cannot make the console FIFOs in " + spec_.paths.run_dir;
    return false;
  }
  return qemu_.Start(ForegroundQemuArgv(QEMU_SYSTEM_PATH, spec_),
                     path("qemu-" + std::to_string(boot) + ".log"), err);
}

std::string GuestVm::serial_log() const {
  std::string log = ReadFile(spec_.paths.console_log());
  return log.size() > log_start_ ? log.substr(log_start_) : "";
}

}  // namespace kumo::testing
