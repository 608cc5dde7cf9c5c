// Starting a helper process (QEMU, qemu-img) from an argv, never a shell.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace kumo::hypervisor {

// An unprivileged identity a child runs as: exactly this uid and gid, and no
// supplementary groups.
struct RunAs {
  uid_t uid = 0;
  gid_t gid = 0;
};

struct SpawnOptions {
  // Set: the child changes to this identity before exec, so the program
  // never holds kumod's privileges (not even while it opens its files).
  std::optional<RunAs> run_as;
  // Descriptors of kumod the child inherits, as 3, 4, … in this order.
  std::vector<int> inherit_fds;
  // Set: the program runs as a grandchild (the child forks after setsid and
  // exits), so it is never kumod's child: it outlives kumod like a daemon,
  // and kumod cannot reap it (nor learn its exit status).
  bool detach = false;
  // Set: the program gets SIGKILL when the thread of kumod that started it
  // ends (PR_SET_PDEATHSIG), so it cannot outlive kumod. Not with `detach`.
  bool die_with_kumod = false;
  // Set (>= 0): stdout and stderr go to this descriptor of kumod's (a pipe
  // the caller reads) and `output_path` is not opened.
  int output_fd = -1;
};

// Starts argv[0] (looked up in PATH when it has no '/') in a new session, with
// umask 077, stdin on /dev/null, stdout and stderr appended to `output_path`
// (created 0600 by the child, after it changed identity; a symlink there is
// refused), every other descriptor of kumod closed (QEMU outlives kumod and
// must not hold its sockets) but the inherited ones, default signal
// dispositions and an empty signal mask. Returns the program's pid once it
// has exec'd; the caller reaps it unless it was detached.
// Errors: HypervisorError (the binary does not exist, the identity cannot be
// taken, the output file cannot be opened).
Result<pid_t> SpawnProcess(const std::vector<std::string>& argv, const std::string& output_path,
                           const SpawnOptions& options = {});

// The last `max_bytes` of the file from byte `offset` on, trimmed, starting at
// a line boundary when it was cut; "" if it cannot be read.
std::string ReadTail(const std::string& path, off_t offset, size_t max_bytes = 2048);

}  // namespace kumo::hypervisor
