#include "hypervisor/qemu_argv.h"

namespace kumo::hypervisor {
namespace {

constexpr size_t kMaxNameLength = 63;
constexpr int kMaxVcpus = 255;
constexpr int kMaxMemoryMib = 4 * 1024 * 1024;  // 4 TiB
constexpr int kMaxDiskGib = 64 * 1024;          // 64 TiB
constexpr size_t kMaxCmdlineLength = 2047;      // x86 COMMAND_LINE_SIZE - 1

Status Invalid(const std::string& message, const std::string& hint = "") {
  return Status(codes::kInvalidArgument, message, hint);
}

bool HasControlCharacter(const std::string& s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

Status CheckPath(const std::string& field, const std::string& path, bool required) {
  if (path.empty()) {
    return required ? Invalid(field + " is required") : Status::Ok();
  }
  if (path[0] != '/') return Invalid(field + " must be an absolute path: '" + path + "'");
  if (path.find(',') != std::string::npos) {
    return Invalid(field + " must not contain ',': '" + path + "'",
                   "QEMU reads ',' as an option separator; move or rename the file");
  }
  if (HasControlCharacter(path)) return Invalid(field + " contains a control character");
  return Status::Ok();
}

Status CheckName(const std::string& name) {
  if (name.empty() || name.size() > kMaxNameLength) {
    return Invalid("machine name must be 1 to 63 characters");
  }
  if (name.front() == '-') return Invalid("machine name must not start with '-'");
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return Invalid("machine name may contain only a-z, 0-9 and '-': '" + name + "'");
  }
  return Status::Ok();
}

Status CheckSizes(const MachineSpec& spec) {
  if (spec.vcpus <= 0 || spec.vcpus > kMaxVcpus) {
    return Invalid("vcpus must be 1 to " + std::to_string(kMaxVcpus));
  }
  if (spec.memory_mib <= 0 || spec.memory_mib > kMaxMemoryMib) {
    return Invalid("memory_mib must be 1 to " + std::to_string(kMaxMemoryMib));
  }
  if (spec.disk_gib <= 0 || spec.disk_gib > kMaxDiskGib) {
    return Invalid("disk_gib must be 1 to " + std::to_string(kMaxDiskGib));
  }
  if (spec.ssh_host_port < 0 || spec.ssh_host_port > 65535) {
    return Invalid("ssh_host_port must be 0 (none) or 1 to 65535");
  }
  return Status::Ok();
}

Status CheckBoot(const MachineSpec& spec) {
  if (Status s = CheckPath("kernel", spec.kernel, false); !s.ok()) return s;
  if (Status s = CheckPath("initrd", spec.initrd, false); !s.ok()) return s;
  if (Status s = CheckPath("base_disk", spec.base_disk, true); !s.ok()) return s;
  if (Status s = CheckPath("seed_image", spec.seed_image, false); !s.ok()) return s;
  if (spec.base_format != "qcow2" && spec.base_format != "raw") {
    return Invalid("base_format must be qcow2 or raw");
  }
  if (Status s = CheckPath("uefi_code", spec.uefi_code, false); !s.ok()) return s;
  if (Status s = CheckPath("uefi_vars_template", spec.uefi_vars_template, false); !s.ok()) {
    return s;
  }
  if (spec.uefi_code.empty() != spec.uefi_vars_template.empty()) {
    return Invalid("UEFI boot needs both the firmware's code and its variable store template");
  }
  if (spec.kernel.empty() && (!spec.initrd.empty() || !spec.cmdline.empty())) {
    return Invalid("an initrd or a kernel command line needs a kernel");
  }
  if (spec.cmdline.size() > kMaxCmdlineLength) return Invalid("kernel command line is too long");
  if (HasControlCharacter(spec.cmdline)) {
    return Invalid("kernel command line contains a control character");
  }
  return Status::Ok();
}

}  // namespace

Status ValidatePaths(const MachinePaths& paths) {
  if (Status s = CheckPath("run_dir", paths.run_dir, true); !s.ok()) return s;
  if (paths.run_dir == "/") return Invalid("run_dir must not be '/'");
  for (const std::string& socket :
       {paths.qmp_socket(), paths.agent_socket()}) {
    if (socket.size() > kMaxSocketPathLength) {
      return Invalid("run_dir is too long for a unix socket path: '" + socket + "'",
                     "socket paths are limited to 107 bytes; use a shorter run directory");
    }
  }
  return Status::Ok();
}

namespace {

std::string SocketChardev(const std::string& id, const std::string& path) {
  return "socket,id=" + id + ",path=" + path + ",server=on,wait=off";
}

std::string FileOf(int fd, const std::string& path) {
  return fd >= 0 ? "/proc/self/fd/" + std::to_string(fd) : path;
}

}  // namespace

Status ValidateSpec(const MachineSpec& spec) {
  if (Status s = CheckName(spec.name); !s.ok()) return s;
  if (Status s = CheckSizes(spec); !s.ok()) return s;
  if (spec.accel != "kvm" && spec.accel != "tcg") {
    return Invalid("accel must be 'kvm' or 'tcg', not '" + spec.accel + "'");
  }
  if (Status s = CheckBoot(spec); !s.ok()) return s;
  return ValidatePaths(spec.paths);
}

std::vector<std::string> BuildQemuArgv(const std::string& qemu_binary, const MachineSpec& spec,
                                       const InheritedFiles& files) {
  const MachinePaths& paths = spec.paths;
  std::vector<std::string> argv = {
      qemu_binary, "-name", "guest=" + spec.name, "-machine", "q35", "-accel", spec.accel,
  };
  // TCG emulates its default model; under KVM the host's own CPU is fastest.
  if (spec.accel == "kvm") argv.insert(argv.end(), {"-cpu", "host"});
  argv.insert(argv.end(), {
                              "-m",
                              std::to_string(spec.memory_mib),
                              "-smp",
                              std::to_string(spec.vcpus),
                              "-nodefaults",
                              "-no-user-config",
                              "-display",
                              "none",
                              "-sandbox",
                              kSandbox,
                              "-pidfile",
                              paths.pidfile(),
                          });
  if (!spec.uefi_code.empty()) {
    // OVMF: its code read-only, then the machine's own variable store, which
    // keeps the boot entries the guest writes.
    argv.insert(argv.end(), {"-drive",
                             "if=pflash,format=raw,unit=0,readonly=on,file=" +
                                 FileOf(files.uefi_code, spec.uefi_code),
                             "-drive", "if=pflash,format=raw,unit=1,file=" + paths.uefi_vars()});
  }
  if (!spec.kernel.empty()) {
    argv.insert(argv.end(), {"-kernel", FileOf(files.kernel, spec.kernel)});
    if (!spec.initrd.empty()) {
      argv.insert(argv.end(), {"-initrd", FileOf(files.initrd, spec.initrd)});
    }
    if (!spec.cmdline.empty()) argv.insert(argv.end(), {"-append", spec.cmdline});
  } else {
    // No kernel: the firmware boots the image's own bootloader from the first
    // disk, never the seed disk behind it. (OVMF does not read this; it tries
    // its devices in its own order, which starts with that disk.)
    argv.insert(argv.end(), {"-boot", "order=c"});
  }
  std::string disk = "file=" + paths.disk() + ",if=virtio,format=qcow2";
  // The overlay names the image by its path; QEMU reads it from the descriptor.
  if (files.base_disk >= 0) {
    disk += ",backing.driver=" + spec.base_format +
            ",backing.file.filename=" + FileOf(files.base_disk, "");
  }
  std::string netdev = "user,id=net0";
  if (spec.ssh_host_port > 0) {
    netdev += ",hostfwd=tcp:127.0.0.1:" + std::to_string(spec.ssh_host_port) + "-:22";
  }
  argv.insert(argv.end(),
              {
                  "-drive",
                  disk,
                  "-netdev",
                  netdev,
                  "-device",
                  "virtio-net-pci,netdev=net0",
                  "-device",
                  "virtio-rng-pci",
                  "-device",
                  "virtio-serial-pci",
                  "-chardev",
                  SocketChardev("agent", paths.agent_socket()),
                  "-device",
                  "virtserialport,chardev=agent,name=org.qemu.guest_agent.0,id=" +
                      std::string(kAgentPortId),
                  // The console is a pair of FIFOs, not a socket: QEMU writes a
                  // UART's output a byte per write, and a unix socket holds only
                  // ~280 such writes before QEMU holds the UART back, when the
                  // guest kernel's console drops characters after 10 ms. A pipe
                  // holds 1 MiB of them (the broker grows it) while kumod is busy.
                  "-chardev",
                  "pipe,id=console,path=" + paths.console_pipe() + ",logfile=" +
                      paths.console_log() + ",logappend=on",
                  "-serial",
                  "chardev:console",
                  "-chardev",
                  SocketChardev("qmp", paths.qmp_socket()),
                  "-mon",
                  "chardev=qmp,mode=control",
                  "-device",
                  "pvpanic-pci",
                  // A panicked guest stays, paused, for inspection (kumod shows "error").
                  "-action",
                  "panic=pause",
              });
  if (!spec.seed_image.empty()) {
    // The second virtio disk (/dev/vdb): the guest finds it by its label, cidata.
    argv.insert(argv.end(), {"-drive", "file=" + FileOf(files.seed_image, spec.seed_image) +
                                           ",if=virtio,format=raw,readonly=on"});
  }
  return argv;
}

std::vector<std::string> BuildOverlayArgv(const std::string& qemu_img, const MachineSpec& spec,
                                          const std::string& target) {
  return {qemu_img,
          "create",
          "-q",
          "-u",
          "-f",
          "qcow2",
          "-F",
          spec.base_format,
          "-b",
          spec.base_disk,
          target,
          std::to_string(spec.disk_gib) + "G"};
}

std::string QmpSocketOfCmdline(std::string_view proc_cmdline) {
  size_t start = 0;
  while (start < proc_cmdline.size()) {
    size_t end = proc_cmdline.find('\0', start);
    if (end == std::string_view::npos) end = proc_cmdline.size();
    std::string_view arg = proc_cmdline.substr(start, end - start);
    start = end + 1;
    if (!arg.starts_with("socket,") || arg.find(",id=qmp,") == std::string_view::npos) continue;
    size_t at = arg.find(",path=");
    if (at == std::string_view::npos) continue;
    at += 6;
    size_t stop = arg.find(',', at);
    return std::string(arg.substr(at, stop == std::string_view::npos ? arg.npos : stop - at));
  }
  return "";
}

bool IsQemuCmdlineOf(std::string_view proc_cmdline, const MachinePaths& paths) {
  return QmpSocketOfCmdline(proc_cmdline) == paths.qmp_socket();
}

}  // namespace kumo::hypervisor
