// UEFI boot with OVMF: where the firmware lies, whether it is there, and each
// machine's own variable store (NVRAM), copied from OVMF's empty template.
#pragma once

#include <optional>
#include <string>

#include "common/status.h"
#include "hypervisor/machine.h"
#include "hypervisor/spawn.h"

namespace kumo::hypervisor {

// Debian's OVMF (package ovmf): the 4 MiB build without Secure Boot and
// without SMM, which both q35 and pc boot, and its empty variable store.
inline constexpr char kDebianOvmfCode[] = "/usr/share/OVMF/OVMF_CODE_4M.fd";
inline constexpr char kDebianOvmfVars[] = "/usr/share/OVMF/OVMF_VARS_4M.fd";

// Ok for a BIOS machine, and for a UEFI machine whose firmware code is a
// readable file, as is the variable store template unless the machine has
// its own copy already. Else HypervisorError naming the file, with a hint
// naming the package and kumod's flag.
Status CheckUefiFirmware(const MachineSpec& spec);

// Makes the machine's own variable store, paths.uefi_vars(), from
// spec.uefi_vars_template if it has none. An existing one is never replaced:
// it holds what the guest wrote. The copy is whole or absent (written beside,
// then renamed into place), 0600, and with `run_as` given to that user; no
// symlink in the run_dir is followed. Nothing to do for a BIOS machine.
// Errors: HypervisorError. REQUIRES: the run_dir exists.
Status PrepareUefiVars(const MachineSpec& spec, const std::optional<RunAs>& run_as);

}  // namespace kumo::hypervisor
