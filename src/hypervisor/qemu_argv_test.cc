#include "hypervisor/qemu_argv.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

namespace kumo::hypervisor {
namespace {

MachineSpec GoodSpec() {
  MachineSpec spec;
  spec.name = "web-1";
  spec.vcpus = 2;
  spec.memory_mib = 512;
  spec.disk_gib = 4;
  spec.kernel = "/img/vmlinuz";
  spec.initrd = "/img/initrd.img";
  spec.cmdline = "console=ttyS0 root=/dev/vda rw";
  spec.base_disk = "/img/rootfs.qcow2";
  spec.accel = "tcg";
  spec.paths.run_dir = "/run/kumo/web-1";
  return spec;
}

// Boots `s` with OVMF (Debian's files) from the image's disk.
void Uefi(MachineSpec& s) {
  s.kernel = s.initrd = s.cmdline = "";
  s.uefi_code = "/usr/share/OVMF/OVMF_CODE_4M.fd";
  s.uefi_vars_template = "/usr/share/OVMF/OVMF_VARS_4M.fd";
}

// The value that follows the n-th occurrence of `option`, or "" if none.
std::string ValueOf(const std::vector<std::string>& argv, const std::string& option, int n = 0) {
  for (size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == option && n-- == 0) return argv[i + 1];
  }
  return "";
}

bool HasPair(const std::vector<std::string>& argv, const std::string& option,
             const std::string& value) {
  for (size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == option && argv[i + 1] == value) return true;
  }
  return false;
}

bool Has(const std::vector<std::string>& argv, const std::string& word) {
  return std::find(argv.begin(), argv.end(), word) != argv.end();
}

struct SpecCase {
  const char* what;
  std::function<void(MachineSpec&)> change;
  bool ok;
  const char* message_part;  // for failures
};

TEST(ValidateSpec, Table) {
  const std::vector<SpecCase> cases = {
      {"good spec", [](MachineSpec&) {}, true, ""},
      {"kvm", [](MachineSpec& s) { s.accel = "kvm"; }, true, ""},
      {"no kernel: disk boot", [](MachineSpec& s) { s.kernel = s.initrd = s.cmdline = ""; }, true,
       ""},
      {"commas in the kernel command line are fine",
       [](MachineSpec& s) { s.cmdline = "console=ttyS0,115200"; }, true, ""},
      {"ssh port", [](MachineSpec& s) { s.ssh_host_port = 2222; }, true, ""},
      {"seed with a comma", [](MachineSpec& s) { s.seed_image = "/a,b/seed.iso"; }, false,
       "seed_image"},
      {"empty name", [](MachineSpec& s) { s.name = ""; }, false, "name"},
      {"upper case name", [](MachineSpec& s) { s.name = "Web"; }, false, "a-z"},
      {"name with comma", [](MachineSpec& s) { s.name = "a,b"; }, false, "a-z"},
      {"name with dot", [](MachineSpec& s) { s.name = "a.b"; }, false, "a-z"},
      {"name starting with -", [](MachineSpec& s) { s.name = "-a"; }, false, "'-'"},
      {"name too long", [](MachineSpec& s) { s.name = std::string(64, 'a'); }, false, "63"},
      {"zero vcpus", [](MachineSpec& s) { s.vcpus = 0; }, false, "vcpus"},
      {"too many vcpus", [](MachineSpec& s) { s.vcpus = 1000; }, false, "vcpus"},
      {"zero memory", [](MachineSpec& s) { s.memory_mib = 0; }, false, "memory_mib"},
      {"negative memory", [](MachineSpec& s) { s.memory_mib = -1; }, false, "memory_mib"},
      {"zero disk", [](MachineSpec& s) { s.disk_gib = 0; }, false, "disk_gib"},
      {"bad accel", [](MachineSpec& s) { s.accel = "hvf"; }, false, "accel"},
      {"accel injection", [](MachineSpec& s) { s.accel = "tcg,thread=multi"; }, false, "accel"},
      {"port too big", [](MachineSpec& s) { s.ssh_host_port = 70000; }, false, "ssh_host_port"},
      {"negative port", [](MachineSpec& s) { s.ssh_host_port = -1; }, false, "ssh_host_port"},
      {"comma in kernel", [](MachineSpec& s) { s.kernel = "/img/a,b"; }, false, "kernel"},
      {"comma in initrd", [](MachineSpec& s) { s.initrd = "/i,nitrd"; }, false, "initrd"},
      {"comma in base disk", [](MachineSpec& s) { s.base_disk = "/img/x.qcow2,if=none"; }, false,
       "base_disk"},
      {"comma in run_dir", [](MachineSpec& s) { s.paths.run_dir = "/run/a,b"; }, false, "run_dir"},
      {"relative run_dir", [](MachineSpec& s) { s.paths.run_dir = "run/a"; }, false, "absolute"},
      {"relative kernel", [](MachineSpec& s) { s.kernel = "vmlinuz"; }, false, "absolute"},
      {"no base disk", [](MachineSpec& s) { s.base_disk = ""; }, false, "base_disk"},
      {"raw base disk", [](MachineSpec& s) { s.base_format = "raw"; }, true, ""},
      {"vmdk base disk", [](MachineSpec& s) { s.base_format = "vmdk"; }, false, "base_format"},
      {"option injection in the base format",
       [](MachineSpec& s) { s.base_format = "raw,file.filename=/etc/shadow"; }, false,
       "base_format"},
      {"no run_dir", [](MachineSpec& s) { s.paths.run_dir = ""; }, false, "run_dir"},
      {"uefi", Uefi, true, ""},
      {"uefi with a direct kernel boot (OVMF loads it)",
       [](MachineSpec& s) {
         Uefi(s);
         s.kernel = "/img/vmlinuz";
       },
       true, ""},
      {"uefi code without a variable store",
       [](MachineSpec& s) {
         Uefi(s);
         s.uefi_vars_template = "";
       },
       false, "variable store"},
      {"uefi variable store without code",
       [](MachineSpec& s) {
         Uefi(s);
         s.uefi_code = "";
       },
       false, "variable store"},
      {"comma in the uefi code",
       [](MachineSpec& s) {
         Uefi(s);
         s.uefi_code = "/o,file=/etc/shadow";
       },
       false, "uefi_code"},
      {"relative uefi variable store",
       [](MachineSpec& s) {
         Uefi(s);
         s.uefi_vars_template = "V";
       },
       false, "uefi_vars_template"},
      {"run_dir is /", [](MachineSpec& s) { s.paths.run_dir = "/"; }, false, "run_dir"},
      {"newline in a path", [](MachineSpec& s) { s.kernel = "/img/a\nb"; }, false, "control"},
      {"newline in the cmdline", [](MachineSpec& s) { s.cmdline = "a\nb"; }, false, "control"},
      {"initrd without kernel", [](MachineSpec& s) { s.kernel = ""; }, false, "needs a kernel"},
      {"cmdline too long", [](MachineSpec& s) { s.cmdline = std::string(3000, 'x'); }, false,
       "too long"},
      {"socket path too long",
       [](MachineSpec& s) { s.paths.run_dir = "/" + std::string(100, 'd'); }, false, "unix socket"},
  };
  for (const SpecCase& c : cases) {
    MachineSpec spec = GoodSpec();
    c.change(spec);
    Status s = ValidateSpec(spec);
    EXPECT_EQ(s.ok(), c.ok) << c.what << ": " << s.ToString();
    if (!c.ok) {
      EXPECT_EQ(s.code(), codes::kInvalidArgument) << c.what;
      EXPECT_NE(s.message().find(c.message_part), std::string::npos)
          << c.what << ": " << s.message();
    }
  }
}

TEST(ValidatePaths, OnlyTheRunDirMatters) {
  MachinePaths paths{"/run/kumo/x"};
  EXPECT_TRUE(ValidatePaths(paths).ok());
  EXPECT_FALSE(ValidatePaths(MachinePaths{"relative"}).ok());
  EXPECT_FALSE(ValidatePaths(MachinePaths{"/a,b"}).ok());
}

TEST(BuildQemuArgv, FullSpec) {
  MachineSpec spec = GoodSpec();
  auto argv = BuildQemuArgv("/usr/bin/qemu-system-x86_64", spec);
  ASSERT_FALSE(argv.empty());
  EXPECT_EQ(argv[0], "/usr/bin/qemu-system-x86_64");

  struct Pair {
    const char* option;
    const char* value;
  };
  const std::vector<Pair> expected = {
      {"-name", "guest=web-1"},
      {"-machine", "q35"},
      {"-accel", "tcg"},
      {"-m", "512"},
      {"-smp", "2"},
      {"-display", "none"},
      {"-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"},
      {"-pidfile", "/run/kumo/web-1/qemu.pid"},
      {"-kernel", "/img/vmlinuz"},
      {"-initrd", "/img/initrd.img"},
      {"-append", "console=ttyS0 root=/dev/vda rw"},
      {"-drive", "file=/run/kumo/web-1/disk.qcow2,if=virtio,format=qcow2"},
      {"-netdev", "user,id=net0"},
      {"-device", "virtio-net-pci,netdev=net0"},
      {"-device", "virtio-rng-pci"},
      {"-device", "virtio-serial-pci"},
      {"-chardev", "socket,id=agent,path=/run/kumo/web-1/agent.sock,server=on,wait=off"},
      {"-device", "virtserialport,chardev=agent,name=org.qemu.guest_agent.0,id=agent-port"},
      {"-chardev",
       "pipe,id=console,path=/run/kumo/web-1/console,"
       "logfile=/run/kumo/web-1/console.log,logappend=on"},
      {"-serial", "chardev:console"},
      {"-chardev", "socket,id=qmp,path=/run/kumo/web-1/qmp.sock,server=on,wait=off"},
      {"-mon", "chardev=qmp,mode=control"},
      {"-device", "pvpanic-pci"},
      {"-action", "panic=pause"},
  };
  for (const Pair& p : expected) {
    EXPECT_TRUE(HasPair(argv, p.option, p.value)) << p.option << " " << p.value;
  }
  for (const char* flag : {"-nodefaults", "-no-user-config"}) {
    EXPECT_TRUE(Has(argv, flag)) << flag;
  }
  // The sandbox forbids the fork and setsid of -daemonize (kumod starts QEMU
  // in its own session), and the setuid of -runas (QEMU starts unprivileged).
  EXPECT_FALSE(Has(argv, "-daemonize"));
  EXPECT_FALSE(Has(argv, "-runas"));
  // Reboots must work: a guest reboot and system_reset reset the machine.
  EXPECT_FALSE(Has(argv, "-no-reboot"));
  EXPECT_FALSE(Has(argv, "-cpu"));  // TCG keeps its default model
  // Nothing is ever a shell string.
  for (const std::string& a : argv) EXPECT_EQ(a.find('\''), std::string::npos) << a;
}

TEST(BuildQemuArgv, Variants) {
  struct Case {
    const char* what;
    std::function<void(MachineSpec&)> change;
    const char* option;
    const char* value;  // nullptr: the option must be absent
  };
  const std::vector<Case> cases = {
      {"ssh forward", [](MachineSpec& s) { s.ssh_host_port = 2201; }, "-netdev",
       "user,id=net0,hostfwd=tcp:127.0.0.1:2201-:22"},
      {"kvm uses the host cpu", [](MachineSpec& s) { s.accel = "kvm"; }, "-cpu", "host"},
      {"kvm accel", [](MachineSpec& s) { s.accel = "kvm"; }, "-accel", "kvm"},
      {"no initrd", [](MachineSpec& s) { s.initrd = ""; }, "-initrd", nullptr},
      {"no cmdline", [](MachineSpec& s) { s.cmdline = ""; }, "-append", nullptr},
      {"disk boot", [](MachineSpec& s) { s.kernel = s.initrd = s.cmdline = ""; }, "-kernel",
       nullptr},
      {"disk boot: no initrd", [](MachineSpec& s) { s.kernel = s.initrd = s.cmdline = ""; },
       "-initrd", nullptr},
      {"disk boot: no command line", [](MachineSpec& s) { s.kernel = s.initrd = s.cmdline = ""; },
       "-append", nullptr},
      {"disk boot: the firmware boots the first disk",
       [](MachineSpec& s) { s.kernel = s.initrd = s.cmdline = ""; }, "-boot", "order=c"},
      {"direct kernel boot leaves the firmware's boot order alone", [](MachineSpec&) {}, "-boot",
       nullptr},
      {"cmdline with commas stays one argument",
       [](MachineSpec& s) { s.cmdline = "console=ttyS0,115200 quiet"; }, "-append",
       "console=ttyS0,115200 quiet"},
      {"memory", [](MachineSpec& s) { s.memory_mib = 2048; }, "-m", "2048"},
      {"vcpus", [](MachineSpec& s) { s.vcpus = 8; }, "-smp", "8"},
  };
  for (const Case& c : cases) {
    MachineSpec spec = GoodSpec();
    c.change(spec);
    ASSERT_TRUE(ValidateSpec(spec).ok()) << c.what;
    auto argv = BuildQemuArgv("qemu-system-x86_64", spec);
    if (c.value) {
      EXPECT_EQ(ValueOf(argv, c.option), c.value) << c.what;
    } else {
      EXPECT_FALSE(Has(argv, c.option)) << c.what;
    }
  }
}

TEST(BuildQemuArgv, SeedImageIsASecondReadOnlyDisk) {
  MachineSpec spec = GoodSpec();
  auto drives = [](const std::vector<std::string>& argv) {
    std::vector<std::string> out;
    for (size_t i = 0; i + 1 < argv.size(); ++i) {
      if (argv[i] == "-drive") out.push_back(argv[i + 1]);
    }
    return out;
  };
  EXPECT_EQ(drives(BuildQemuArgv("qemu-system-x86_64", spec)).size(), 1u);
  spec.seed_image = "/var/lib/kumo/servers/web/seed.iso";
  ASSERT_TRUE(ValidateSpec(spec).ok());
  auto with_seed = drives(BuildQemuArgv("qemu-system-x86_64", spec));
  ASSERT_EQ(with_seed.size(), 2u);
  EXPECT_EQ(with_seed[1],
            "file=/var/lib/kumo/servers/web/seed.iso,if=virtio,format=raw,readonly=on");
}

TEST(BuildQemuArgv, InheritedFilesAreReadThroughProcSelfFd) {
  MachineSpec spec = GoodSpec();
  spec.seed_image = "/run/kumo/web-1/seed.iso";
  InheritedFiles files;
  files.kernel = 3;
  files.initrd = 4;
  files.base_disk = 5;
  files.seed_image = 6;
  auto argv = BuildQemuArgv("qemu-system-x86_64", spec, files);
  EXPECT_EQ(ValueOf(argv, "-kernel"), "/proc/self/fd/3");
  EXPECT_EQ(ValueOf(argv, "-initrd"), "/proc/self/fd/4");
  // The overlay names the image by its path; QEMU opens the inherited one.
  EXPECT_EQ(ValueOf(argv, "-drive"),
            "file=/run/kumo/web-1/disk.qcow2,if=virtio,format=qcow2,backing.driver=qcow2,"
            "backing.file.filename=/proc/self/fd/5");
  EXPECT_EQ(ValueOf(argv, "-drive", 1), "file=/proc/self/fd/6,if=virtio,format=raw,readonly=on");
  for (const std::string& a : argv) EXPECT_EQ(a.find("/img/"), std::string::npos) << a;
}

// The firmware part of the argv for each way to boot: SeaBIOS booting the
// disk, OVMF booting the disk, and SeaBIOS loading the image's kernel.
TEST(BuildQemuArgv, FirmwareUefiVsBiosVsDirectKernel) {
  auto pflash = [](const std::vector<std::string>& argv) {
    std::vector<std::string> out;
    for (size_t i = 0; i + 1 < argv.size(); ++i) {
      if (argv[i] == "-drive" && argv[i + 1].starts_with("if=pflash")) out.push_back(argv[i + 1]);
    }
    return out;
  };
  InheritedFiles files;
  files.base_disk = 3;
  files.uefi_code = 4;

  MachineSpec uefi = GoodSpec();
  Uefi(uefi);
  auto argv = BuildQemuArgv("qemu-system-x86_64", uefi, files);
  // The code read-only from the descriptor kumod opened; the variable store
  // is the machine's own, writable.
  std::vector<std::string> expected = {
      "if=pflash,format=raw,unit=0,readonly=on,file=/proc/self/fd/4",
      "if=pflash,format=raw,unit=1,file=/run/kumo/web-1/uefi-vars.fd"};
  EXPECT_EQ(pflash(argv), expected);
  EXPECT_FALSE(Has(argv, "-kernel"));
  EXPECT_EQ(ValueOf(argv, "-machine"), "q35") << "OVMF without SMM needs no other machine";
  EXPECT_EQ(ValueOf(argv, "-drive", 2).find("file=/run/kumo/web-1/disk.qcow2,"), 0u)
      << "the disk comes after the firmware";
  uefi.kernel = "/img/vmlinuz";  // OVMF can load a kernel as SeaBIOS does
  EXPECT_EQ(ValueOf(BuildQemuArgv("qemu-system-x86_64", uefi, files), "-kernel"), "/img/vmlinuz");

  MachineSpec bios = GoodSpec();
  bios.kernel = bios.initrd = bios.cmdline = "";
  argv = BuildQemuArgv("qemu-system-x86_64", bios, files);
  EXPECT_TRUE(pflash(argv).empty()) << "SeaBIOS is QEMU's own";
  EXPECT_EQ(ValueOf(argv, "-boot"), "order=c");
  EXPECT_FALSE(Has(argv, "-kernel"));

  argv = BuildQemuArgv("qemu-system-x86_64", GoodSpec(), files);
  EXPECT_TRUE(pflash(argv).empty());
  EXPECT_EQ(ValueOf(argv, "-kernel"), "/img/vmlinuz");
  for (const auto& a : argv) EXPECT_EQ(a.find("OVMF"), std::string::npos) << a;
}

TEST(BuildOverlayArgv, CreatesQcow2OverTheImage) {
  auto argv = BuildOverlayArgv("qemu-img", GoodSpec(), "/run/kumo/web-1/disk.qcow2.part");
  std::vector<std::string> expected = {"qemu-img",
                                       "create",
                                       "-q",
                                       "-u",
                                       "-f",
                                       "qcow2",
                                       "-F",
                                       "qcow2",
                                       "-b",
                                       "/img/rootfs.qcow2",
                                       "/run/kumo/web-1/disk.qcow2.part",
                                       "4G"};
  EXPECT_EQ(argv, expected);
}

TEST(BuildOverlayArgv, ARawImageIsNamedRawInTheOverlayAndTheDrive) {
  MachineSpec spec = GoodSpec();
  spec.base_format = "raw";
  auto argv = BuildOverlayArgv("qemu-img", spec, spec.paths.disk());
  EXPECT_EQ(argv[7], "raw");  // -F raw: never probed
  InheritedFiles files;
  files.base_disk = 5;
  EXPECT_NE(ValueOf(BuildQemuArgv("qemu-system-x86_64", spec, files), "-drive")
                .find(",backing.driver=raw,"),
            std::string::npos);
}

TEST(IsQemuCmdlineOf, Table) {
  MachinePaths paths{"/run/kumo/web-1"};
  auto cmdline = [](std::vector<std::string> args) {
    std::string s;
    for (const auto& a : args) s += a + '\0';
    return s;
  };
  const std::string ours = cmdline(BuildQemuArgv("qemu-system-x86_64", GoodSpec()));
  struct Case {
    const char* what;
    std::string cmdline;
    bool expected;
  };
  const std::vector<Case> cases = {
      {"our QEMU", ours, true},
      {"empty", "", false},
      {"a shell", cmdline({"/bin/bash", "-l"}), false},
      {"another machine",
       cmdline(
           {"qemu", "-chardev", "socket,id=qmp,path=/run/kumo/web-10/qmp.sock,server=on,wait=off"}),
       false},
      {"the path as a plain argument", cmdline({"cat", "/run/kumo/web-1/qmp.sock"}), false},
      {"the agent socket, not QMP",
       cmdline({"qemu", "-chardev",
                "socket,id=agent,path=/run/kumo/web-1/qmp.sock,server=on,wait=off"}),
       false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(IsQemuCmdlineOf(c.cmdline, paths), c.expected) << c.what;
  }
}

}  // namespace
}  // namespace kumo::hypervisor
