// Test support: what tests and benchmarks measure of kumod from the outside
// — a raw loopback connection to its port (held idle, or used by hand), and
// what a process (kumod, a QEMU) runs as and the CPU time it has used.
#pragma once

#include <sys/types.h>

#include <string>

namespace kumo::testing {

// A blocking TCP connection to 127.0.0.1:port (close-on-exec), or -1.
int ConnectLoopback(int port);

// Process `pid`'s command line as /proc/PID/cmdline has it (each argument
// ends in '\0'); "" if it cannot be read.
std::string ProcessCmdline(pid_t pid);

// utime + stime of process `pid` in seconds (/proc/PID/stat fields 14 and
// 15); 0 if it cannot be read.
double CpuSeconds(pid_t pid);

}  // namespace kumo::testing
