// Test support: the QEMU command line kumod uses (hypervisor/qemu_argv.h),
// but in the foreground, so that the test starts QEMU as its own child
// process and stops it by its pid. Link kumo_hypervisor.
#pragma once

#include <string>
#include <vector>

#include "hypervisor/qemu_argv.h"

namespace kumo::testing {

// BuildQemuArgv(qemu_binary, spec) without -daemonize and its -pidfile;
// every other argument as kumod passes it.
// REQUIRES: hypervisor::ValidateSpec(spec).ok()
inline std::vector<std::string> ForegroundQemuArgv(const std::string& qemu_binary,
                                                   const hypervisor::MachineSpec& spec) {
  std::vector<std::string> argv;
  auto full = hypervisor::BuildQemuArgv(qemu_binary, spec);
  for (size_t i = 0; i < full.size(); ++i) {
    if (full[i] == "-daemonize") continue;
    if (full[i] == "-pidfile") {
      ++i;  // and its path
      continue;
    }
    argv.push_back(full[i]);
  }
  return argv;
}

}  // namespace kumo::testing
