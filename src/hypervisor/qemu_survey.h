// Finding kumo's QEMU processes by their command lines: after kumod died,
// the pidfile and the record may not know a QEMU that runs (it was killed
// after QEMU was spawned and before either was written), so recovery asks
// the process table itself.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "hypervisor/machine.h"

namespace kumo::hypervisor {

// Every process under `proc_root` (/proc in production) whose command line
// names the QMP socket of one of `machines`, keyed by their run_dir. One pass
// over the process table.
std::map<std::string, std::vector<int64_t>> FindQemus(const std::vector<MachinePaths>& machines,
                                                      const std::string& proc_root = "/proc");

}  // namespace kumo::hypervisor
