// The QEMU command line of a machine, built from its spec. Pure functions: no
// I/O, so every rule here has a table-driven test (qemu_argv_test.cc).
//
// QEMU parses most option values as comma-separated key=value lists, so a
// path with a comma would change the meaning of the option it sits in (e.g.
// "file=/x,if=none" smuggles in another key). ValidateSpec rejects such
// values; BuildQemuArgv never quotes, never escapes, and never builds a shell
// string: the result is an argv for posix_spawn.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "hypervisor/machine.h"

namespace kumo::hypervisor {

// A unix socket path must fit sockaddr_un.sun_path (108 bytes with the NUL).
inline constexpr size_t kMaxSocketPathLength = 107;

// Ok, or InvalidArgument naming the first bad field: name [a-z0-9-] (1..63,
// no leading '-'), vcpus/memory/disk > 0 and within sane bounds, accel kvm or
// tcg, ssh port 0..65535, every path absolute and free of ',' and control
// characters, socket paths short enough, a kernel if an initrd or a command
// line is given, both UEFI files or neither.
Status ValidateSpec(const MachineSpec& spec);

// The part of ValidateSpec that concerns the run directory alone (what
// re-attaching to a running machine needs).
Status ValidatePaths(const MachinePaths& paths);

// The image's files as the QEMU process inherits them from kumod (its
// descriptor numbers), read through /proc/self/fd/N: an unprivileged QEMU
// then needs no way through the image's directories. -1: QEMU opens the
// spec's path itself.
struct InheritedFiles {
  int kernel = -1;
  int initrd = -1;
  int base_disk = -1;
  int seed_image = -1;
  int uefi_code = -1;
};

// The strict seccomp sandbox QEMU runs in: no obsolete system calls, no
// setuid/setgid/setsid, no fork/exec, no scheduler or CPU-affinity changes.
inline constexpr const char* kSandbox =
    "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny";

// The argv (argv[0] = qemu_binary) that starts `spec` in the foreground (the
// sandbox forbids -daemonize's fork and setsid; the caller starts QEMU in its
// own session): QMP, agent and serial console on unix sockets in
// spec.paths.run_dir, console output also appended to console.log, a pidfile,
// a pvpanic device whose panic pauses the guest. The firmware is SeaBIOS, or
// OVMF (UEFI) with spec.uefi_code: its code as read-only pflash unit 0, the
// machine's own variable store (paths.uefi_vars()) as writable unit 1. With a
// kernel, QEMU boots it directly (-kernel/-initrd/-append); without one, the
// firmware boots the image's disk with its own bootloader.
// REQUIRES: ValidateSpec(spec).ok()
std::vector<std::string> BuildQemuArgv(const std::string& qemu_binary, const MachineSpec& spec,
                                       const InheritedFiles& files = {});

// The argv that creates the machine's copy-on-write disk over the image,
// without opening the image (-u: the size is given, and the user qemu-img
// runs as may not reach the image; QEMU gets the image as an inherited file),
// written to `target`.
// REQUIRES: ValidateSpec(spec).ok()
std::vector<std::string> BuildOverlayArgv(const std::string& qemu_img, const MachineSpec& spec,
                                          const std::string& target);

// Whether a process's /proc/PID/cmdline (arguments separated by NULs) is that
// of the QEMU BuildQemuArgv starts for `paths`: it has a socket chardev on
// paths.qmp_socket().
bool IsQemuCmdlineOf(std::string_view proc_cmdline, const MachinePaths& paths);
// The QMP socket path a kumo QEMU command line (/proc/PID/cmdline: NUL
// separated) names, or "" if it is not one.
std::string QmpSocketOfCmdline(std::string_view proc_cmdline);

}  // namespace kumo::hypervisor
