// Starting a helper process (QEMU, qemu-img) from an argv, never a shell.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/status.h"

namespace kumo::hypervisor {

// Starts argv[0] (looked up in PATH when it has no '/') in a new session, with
// stdin on /dev/null, stdout and stderr appended to `output_path` (created
// 0600), every other descriptor of kumod closed (a daemonized QEMU outlives
// kumod and must not hold its sockets), default signal dispositions and an
// empty signal mask. Returns the child's pid; the caller reaps it.
// Errors: HypervisorError (e.g. the binary does not exist).
Result<pid_t> SpawnProcess(const std::vector<std::string>& argv, const std::string& output_path);

// The last `max_bytes` of the file from byte `offset` on, trimmed, starting at
// a line boundary when it was cut; "" if it cannot be read.
std::string ReadTail(const std::string& path, off_t offset, size_t max_bytes = 2048);

}  // namespace kumo::hypervisor
