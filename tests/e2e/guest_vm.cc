#include "e2e/guest_vm.h"

#include <sys/wait.h>

#include <cstdlib>

namespace kumo::testing {

std::string GuestVm::image_file(const std::string& name) const {
  return std::string(KUMO_GUEST_IMAGE_DIR) + "/" + name;
}

bool GuestVm::CreateDisk(std::string* err) {
  ChildProcess img;
  if (!img.Start({QEMU_IMG_PATH, "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
                  image_file("rootfs.qcow2"), path("disk.qcow2")},
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

bool GuestVm::Start(int boot, const std::string& seed_iso, std::string* err) {
  boot_ = boot;
  const char* accel = std::getenv("KUMO_TEST_ACCEL");
  std::vector<std::string> argv = {QEMU_SYSTEM_PATH,
                                   "-accel",
                                   accel ? accel : "tcg",
                                   "-m",
                                   "256",
                                   "-smp",
                                   "1",
                                   "-nodefaults",
                                   "-display",
                                   "none",
                                   "-no-reboot",
                                   "-kernel",
                                   image_file("vmlinuz"),
                                   "-initrd",
                                   image_file("initrd.img"),
                                   "-append",
                                   "console=ttyS0 root=/dev/vda rw",
                                   "-drive",
                                   "file=" + path("disk.qcow2") + ",if=virtio,format=qcow2"};
  if (!seed_iso.empty()) {
    argv.insert(argv.end(), {"-drive", "file=" + seed_iso + ",if=virtio,format=raw,readonly=on"});
  }
  argv.insert(argv.end(), {"-netdev", "user,id=net0", "-device", "virtio-net-pci,netdev=net0",
                           "-device", "virtio-rng-pci", "-device", "virtio-serial-pci", "-chardev",
                           "socket,id=agent,path=" + agent_socket() + ",server=on,wait=off",
                           "-device", "virtserialport,chardev=agent,name=org.qemu.guest_agent.0",
                           "-serial", "file:" + serial_path()});
  started_ = std::chrono::steady_clock::now();
  return qemu_.Start(argv, path("qemu-" + std::to_string(boot) + ".log"), err);
}

}  // namespace kumo::testing
