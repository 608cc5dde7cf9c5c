// Test support: what tests and benchmarks measure of kumod from the outside
// — a raw loopback connection to its port (held idle, or used by hand), and
// the CPU time its process has used.
#pragma once

#include <sys/types.h>

namespace kumo::testing {

// A blocking TCP connection to 127.0.0.1:port (close-on-exec), or -1.
int ConnectLoopback(int port);

// utime + stime of process `pid` in seconds (/proc/PID/stat fields 14 and
// 15); 0 if it cannot be read.
double CpuSeconds(pid_t pid);

}  // namespace kumo::testing
