#include "e2e/guest_vm.h"

#include <sys/wait.h>

#include <cstdlib>

namespace kumo::testing {

std::string GuestVm::image_file(const std::string& name) const {
  return std::string(KUMO_GUEST_IMAGE_DIR) + "/" + name;
}

bool GuestVm::Boot(std::string* err) {
  std::string overlay = dir_ / "disk.qcow2";
  ChildProcess img;
  if (!img.Start({QEMU_IMG_PATH, "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
                  image_file("rootfs.qcow2"), overlay},
                 dir_ / "qemu-img.log", err)) {
    return false;
  }
  int status = img.WaitExit(std::chrono::seconds(30));
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    *err = "qemu-img create failed: " + ReadFile(dir_ / "qemu-img.log");
    return false;
  }
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
                                   "file=" + overlay + ",if=virtio,format=qcow2",
                                   "-netdev",
                                   "user,id=net0",
                                   "-device",
                                   "virtio-net-pci,netdev=net0",
                                   "-device",
                                   "virtio-rng-pci",
                                   "-device",
                                   "virtio-serial-pci",
                                   "-chardev",
                                   "socket,id=agent,path=" + agent_socket() + ",server=on,wait=off",
                                   "-device",
                                   "virtserialport,chardev=agent,name=org.qemu.guest_agent.0",
                                   "-serial",
                                   "file:" + (dir_ / "serial.log")};
  return qemu_.Start(argv, dir_ / "qemu.log", err);
}

}  // namespace kumo::testing
