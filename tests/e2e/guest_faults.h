// Test support: faults produced inside a running kumo guest the way they
// happen on real servers, through kumod's API only (exec runs busybox's shell
// in the guest; its scripts are constants, parameters go in as arguments).
// Each function returns once the fault is under way. Where the guest kernel
// prints a line for it, the outcome holds that line and the wall-clock time it
// reached the server's console log (polled every 100 ms from the log's end as
// it was when the fault began).
// REQUIRES: the server runs the project's guest image and its agent answers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "e2e/kumod_harness.h"

namespace kumo::testing {

struct FaultOutcome {
  bool ok = false;
  std::string error;     // why not, when !ok
  int64_t fault_ms = 0;  // ms since epoch: when the fault took effect, as far as the test knows
  int64_t line_ms = 0;   // when the kernel's line for it appeared on the console; 0: none
  std::string line;      // that line
};

// Console lines (substrings) the kernel prints for each fault, more than one
// each (the console lost characters under load until it moved to FIFOs).
extern const std::vector<std::string> kOomLines;
extern const std::vector<std::string> kPanicLines;
extern const std::vector<std::string> kHungTaskLines;

int64_t WallMs();

class GuestFaults {
 public:
  GuestFaults(KumodHarness* kumod, std::string server);

  // dropbear made the OOM killer's first choice (oom_score_adj 1000) and not
  // respawned once it dies (as sysvinit's sshd is not), then a memory hog
  // (busybox `tail /dev/zero`, the second victim) until the kernel kills.
  FaultOutcome OomKillSshd(double timeout_s = 120);
  // Memory that grows by `mib_per_s` each second (an awk array) until the OOM
  // killer ends it. Returns once it grows; the kill is WaitForConsole(kOomLines).
  FaultOutcome SlowLeak(int mib_per_s);
  // sysrq c: the kernel panics (kumo's QEMU has a pvpanic device).
  FaultOutcome KernelPanic(double timeout_s = 60);
  // hung_task_timeout_secs set to `timeout_secs`; a small ext2 on a loop
  // device, frozen (fsfreeze), and `touch` blocked writing to it.
  FaultOutcome HungTask(int timeout_secs, double wait_s = 120);
  // `dirs` directories on the root (e2fsck's work grows with the inodes in
  // use), /forcefsck, a graceful reboot: returns when the initramfs starts the
  // check, its line being initramfs-tools' "Begin: Will now check root file system".
  FaultOutcome FsckAtBoot(int dirs, double timeout_s = 300);
  // One busy loop per vCPU.
  FaultOutcome SaturateCpu();
  // dd until the root filesystem has no space left (fails if dd did not say so).
  FaultOutcome FillRootFs();
  // The agent's respawn turned off in /etc/inittab (init re-reads it on
  // SIGHUP), the agent killed, and `delay_s` later a memory hog that the OOM
  // killer ends, witnessed by the console only. fault_ms: the agent's kill.
  FaultOutcome KillAgentThenOom(int delay_s, double timeout_s = 120);

  // Remembers the console log's end; the Console* calls look after it.
  void MarkConsole();
  // The first console line after the mark with any of `needles`, or "".
  std::string ConsoleLine(const std::vector<std::string>& needles) const;
  // Polls ConsoleLine every 100 ms; returns when it was seen (ms), or 0.
  int64_t WaitForConsole(const std::vector<std::string>& needles, double timeout_s,
                         std::string* line = nullptr) const;
  std::string console_path() const;

 private:
  // Runs `script` with /bin/sh -c in the guest, `args` as $1...
  HttpResult Shell(const std::string& script, const std::vector<std::string>& args = {},
                   int timeout_s = 60);
  bool ShellOk(const std::string& script, const std::vector<std::string>& args, FaultOutcome* out,
               int timeout_s = 60);

  KumodHarness* kumod_;
  std::string server_;
  uint64_t mark_ = 0;
};

}  // namespace kumo::testing
