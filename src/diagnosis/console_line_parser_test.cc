#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "diagnosis/console_lines.h"

namespace kumo::diagnosis {
namespace {

using Kind = ConsoleFactKind;

struct Case {
  std::string_view line;
  Kind kind;
  int64_t pid = 0;
  std::string_view process = "";
  uint64_t kib = 0;
  int64_t seconds = 0;
  double percent = -1;
  std::string_view device = "";
  std::string_view detail = "";
  std::optional<double> time = std::nullopt;
};

void ExpectFacts(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    SCOPED_TRACE(c.line);
    auto fact = ParseConsoleLine(c.line);
    ASSERT_TRUE(fact.has_value());
    EXPECT_EQ(ConsoleFactKindName(fact->kind), ConsoleFactKindName(c.kind));
    EXPECT_EQ(fact->text, c.line);
    EXPECT_EQ(fact->pid, c.pid);
    EXPECT_EQ(fact->process, c.process);
    EXPECT_EQ(fact->kib, c.kib);
    EXPECT_EQ(fact->seconds, c.seconds);
    EXPECT_DOUBLE_EQ(fact->percent, c.percent);
    EXPECT_EQ(fact->device, c.device);
    EXPECT_EQ(fact->detail, c.detail);
    ASSERT_EQ(fact->kernel_time_s.has_value(), c.time.has_value());
    if (c.time) {
      EXPECT_DOUBLE_EQ(*fact->kernel_time_s, *c.time);
    }
  }
}

TEST(ParseConsoleLine, ReadsKernelBootAndOomLines) {
  ExpectFacts({
      {.line = "[    0.000000] Linux version 6.1.0-28-cloud-amd64 (debian-kernel@lists.debian.org) "
               "(gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP "
               "PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)",
       .kind = Kind::kBootBanner,
       .detail = "6.1.0-28-cloud-amd64",
       .time = 0.0},
      {.line = "[   41.870503] hog invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|"
               "__GFP_COMP), order=0, oom_score_adj=0",
       .kind = Kind::kOomInvoked,
       .process = "hog",
       .time = 41.870503},
      {.line = "[   41.912245] Out of memory: Killed process 212 (dropbear) total-vm:4372kB, "
               "anon-rss:1024kB, file-rss:2816kB, shmem-rss:256kB, UID:0 pgtables:48kB "
               "oom_score_adj:1000",
       .kind = Kind::kOomKill,
       .pid = 212,
       .process = "dropbear",
       .kib = 4096,
       .time = 41.912245},
      {.line = "[   42.000001] Memory cgroup out of memory: Killed process 301 (Web Content) "
               "total-vm:200000kB, anon-rss:190000kB, file-rss:4kB, shmem-rss:0kB, UID:1000 "
               "pgtables:420kB oom_score_adj:0",
       .kind = Kind::kOomKill,
       .pid = 301,
       .process = "Web Content",
       .kib = 190004,
       .time = 42.000001},
      // Names with parentheses, and one that mimics the line's own shape.
      {.line = "Out of memory: Killed process 1042 ((sd-pam)) total-vm:9000kB, anon-rss:100kB, "
               "file-rss:20kB, shmem-rss:0kB, UID:0 pgtables:60kB oom_score_adj:100",
       .kind = Kind::kOomKill,
       .pid = 1042,
       .process = "(sd-pam)",
       .kib = 120},
      {.line = "Out of memory: Killed process 7 () total-vm:1kB) total-vm:100kB, anon-rss:10kB, "
               "file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0",
       .kind = Kind::kOomKill,
       .pid = 7,
       .process = ") total-vm:1kB",
       .kib = 10},
      {.line = "Out of memory (oom_kill_allocating_task): Killed process 55 (a.out) "
               "total-vm:5kB, anon-rss:1kB, file-rss:1kB, shmem-rss:1kB, UID:0 pgtables:4kB "
               "oom_score_adj:0",
       .kind = Kind::kOomKill,
       .pid = 55,
       .process = "a.out",
       .kib = 3},
      // rss fields garbled (characters doubled under load): the kill still counts.
      {.line = "Out of memory: Killed process 90 (hog) total-vm:5kB, anon-rrss:1kB, file-rss:1kB",
       .kind = Kind::kOomKill,
       .pid = 90,
       .process = "hog"},
  });
}

TEST(ParseConsoleLine, ReadsPanicsBugsAndStalls) {
  ExpectFacts({
      {.line = "[   73.481736] Kernel panic - not syncing: sysrq triggered crash",
       .kind = Kind::kKernelPanic,
       .detail = "sysrq triggered crash",
       .time = 73.481736},
      {.line = "[   73.490102] ---[ end Kernel panic - not syncing: sysrq triggered crash ]---",
       .kind = Kind::kKernelPanic,
       .detail = "sysrq triggered crash",
       .time = 73.490102},
      {.line = "[    1.100000] Kernel panic - not syncing: VFS: Unable to mount root fs on "
               "unknown-block(0,0)",
       .kind = Kind::kKernelPanic,
       .detail = "VFS: Unable to mount root fs on unknown-block(0,0)",
       .time = 1.1},
      {.line = "[  100.100000] BUG: kernel NULL pointer dereference, address: 0000000000000000",
       .kind = Kind::kKernelBug,
       .detail = "BUG: kernel NULL pointer dereference, address: 0000000000000000",
       .time = 100.1},
      {.line = "[  100.100001] BUG: unable to handle page fault for address: ffffffffc0a01000",
       .kind = Kind::kKernelBug,
       .detail = "BUG: unable to handle page fault for address: ffffffffc0a01000",
       .time = 100.100001},
      {.line = "[  100.100002] Oops: 0002 [#1] PREEMPT SMP NOPTI",
       .kind = Kind::kKernelBug,
       .detail = "Oops: 0002 [#1] PREEMPT SMP NOPTI",
       .time = 100.100002},
      {.line = "[  100.2] general protection fault, probably for non-canonical address "
               "0xdead000000000100: 0000 [#1] PREEMPT SMP NOPTI",
       .kind = Kind::kKernelBug,
       .detail = "general protection fault, probably for non-canonical address "
                 "0xdead000000000100: 0000 [#1] PREEMPT SMP NOPTI",
       .time = 100.2},
      {.line = "[  100.3] kernel BUG at mm/slub.c:412!",
       .kind = Kind::kKernelBug,
       .detail = "kernel BUG at mm/slub.c:412!",
       .time = 100.3},
      {.line = "[  100.4] Internal error: Oops: 0000000096000005 [#1] SMP",
       .kind = Kind::kKernelBug,
       .detail = "Oops: 0000000096000005 [#1] SMP",
       .time = 100.4},
      {.line = "[  100.5] NMI watchdog: Watchdog detected hard LOCKUP on cpu 1",
       .kind = Kind::kKernelBug,
       .detail = "Watchdog detected hard LOCKUP on cpu 1",
       .time = 100.5},
      {.line = "[  243.120002] INFO: task jbd2/vda-8:123 blocked for more than 120 seconds.",
       .kind = Kind::kHungTask,
       .pid = 123,
       .process = "jbd2/vda-8",
       .seconds = 120,
       .time = 243.120002},
      {.line = "INFO: task kworker/u4:2:57 blocked for more than 20 seconds.",
       .kind = Kind::kHungTask,
       .pid = 57,
       .process = "kworker/u4:2",
       .seconds = 20},
      {.line = "[   52.012345] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [yes:301]",
       .kind = Kind::kSoftLockup,
       .pid = 301,
       .process = "yes",
       .seconds = 22,
       .detail = "CPU#0",
       .time = 52.012345},
      {.line = "watchdog: BUG: soft lockup - CPU#3 stuck for 48s! [my w:rker:77]",
       .kind = Kind::kSoftLockup,
       .pid = 77,
       .process = "my w:rker",
       .seconds = 48,
       .detail = "CPU#3"},
      {.line = "[   60.500000] rcu: INFO: rcu_sched self-detected stall on CPU",
       .kind = Kind::kRcuStall,
       .detail = "rcu_sched",
       .time = 60.5},
      {.line = "[   60.500001] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:",
       .kind = Kind::kRcuStall,
       .detail = "rcu_preempt",
       .time = 60.500001},
      {.line = "rcu: INFO: rcu_preempt detected expedited stalls on CPUs/tasks: { 0-... } 21002 "
               "jiffies s: 325 root: 0x1/.",
       .kind = Kind::kRcuStall,
       .detail = "rcu_preempt"},
  });
}

TEST(ParseConsoleLine, ReadsFilesystemChecks) {
  ExpectFacts({
      {.line = "fsck from util-linux 2.38.1", .kind = Kind::kFsckStarted},
      {.line = "Begin: Will now check root file system ... fsck from util-linux 2.38.1",
       .kind = Kind::kFsckStarted},
      {.line = "[/sbin/fsck.ext4 (1) -- /dev/vda1] fsck.ext4 -a -C0 /dev/vda1",
       .kind = Kind::kFsckStarted,
       .device = "/dev/vda1"},
      {.line = "e2fsck 1.47.0 (5-Feb-2023)", .kind = Kind::kFsckStarted},
      {.line = "/dev/vda has been mounted 21 times without being checked, check forced.",
       .kind = Kind::kFsckStarted,
       .device = "/dev/vda"},
      {.line = "/dev/vda1 was not cleanly unmounted, check forced.",
       .kind = Kind::kFsckStarted,
       .device = "/dev/vda1"},
      {.line = "rootfs contains a file system with errors, check forced.",
       .kind = Kind::kFsckStarted,
       .device = "rootfs"},
      {.line = "Pass 1: Checking inodes, blocks, and sizes", .kind = Kind::kFsckStarted},
      {.line = "         Starting systemd-fsck-root.service - File System Check on Root Device...",
       .kind = Kind::kFsckStarted},
      {.line = "         Starting File System Check on /dev/disk/by-uuid/"
               "1b2c3d4e-0000-4000-8000-123456789abc...",
       .kind = Kind::kFsckStarted,
       .device = "/dev/disk/by-uuid/1b2c3d4e-0000-4000-8000-123456789abc"},
      {.line = "/dev/vda: |=====                                                / 34.5%",
       .kind = Kind::kFsckProgress,
       .percent = 34.5,
       .device = "/dev/vda"},
      {.line = "/dev/vda1: |=                                                    -  5.0%",
       .kind = Kind::kFsckProgress,
       .percent = 5.0,
       .device = "/dev/vda1"},
      {.line = "/dev/vda1: |========================================================| 100.0%",
       .kind = Kind::kFsckProgress,
       .percent = 100.0,
       .device = "/dev/vda1"},
      {.line = "/dev/vda1: fsck 34.5% complete...",
       .kind = Kind::kFsckProgress,
       .percent = 34.5,
       .device = "/dev/vda1"},
      {.line = "[  ***] A start job is running for File System Check on Root Device (12s / no "
               "limit)",
       .kind = Kind::kFsckStarted},
      {.line = "         Starting systemd-fsck-root.service...", .kind = Kind::kFsckStarted},
      {.line = "[  OK  ] Finished systemd-fsck-root.service.", .kind = Kind::kFsckPassed},
      {.line = "Pass 3: Checking directory connectivity",
       .kind = Kind::kFsckProgress,
       .detail = "Pass 3"},
      {.line = "Pass 1B: Rescanning for multiply-claimed blocks",
       .kind = Kind::kFsckProgress,
       .detail = "Pass 1B"},
      {.line = "/dev/vda: 11/65536 files (0.0% non-contiguous), 8000/262144 blocks",
       .kind = Kind::kFsckPassed,
       .device = "/dev/vda"},
      {.line = "/dev/vda1: clean, 11/65536 files, 8000/262144 blocks",
       .kind = Kind::kFsckPassed,
       .device = "/dev/vda1"},
      {.line = "systemd-fsck[201]: rootfs: clean, 27521/1281120 files, 467532/5242619 blocks "
               "(check in 3 mounts)",
       .kind = Kind::kFsckPassed,
       .device = "rootfs"},
      {.line = "[  OK  ] Finished systemd-fsck-root.service - File System Check on Root Device.",
       .kind = Kind::kFsckPassed},
      {.line = "[  OK  ] Finished File System Check on /dev/disk/by-uuid/abcd-1234.",
       .kind = Kind::kFsckPassed,
       .device = "/dev/disk/by-uuid/abcd-1234"},
      {.line = "fsck exited with status code 1", .kind = Kind::kFsckPassed},
      {.line = "/dev/sda6: UNEXPECTED INCONSISTENCY; RUN fsck MANUALLY.",
       .kind = Kind::kFsckFailed,
       .device = "/dev/sda6"},
      {.line = "/dev/sda6 UNEXPECTED INCONSISTENCY; RUN fsck MANUALLY.",
       .kind = Kind::kFsckFailed,
       .device = "/dev/sda6"},
      {.line = "UNEXPECTED INCONSISTENCY; RUN fsck MANUALLY.", .kind = Kind::kFsckFailed},
      {.line = "fsck exited with status code 4", .kind = Kind::kFsckFailed},
      {.line = "The root filesystem on /dev/sda6 requires a manual fsck",
       .kind = Kind::kFsckFailed,
       .device = "/dev/sda6"},
      {.line = "[FAILED] Failed to start systemd-fsck-root.service - File System Check on Root "
               "Device.",
       .kind = Kind::kFsckFailed},
      {.line = "[   12.000000] systemd-fsck[201]: fsck failed with exit status 8.",
       .kind = Kind::kFsckFailed,
       .time = 12.0},
  });
}

TEST(ParseConsoleLine, ReadsFilesystemErrorsFullDisksAndEmergencyShells) {
  ExpectFacts({
      {.line = "[  300.200000] EXT4-fs error (device vda): ext4_journal_check_start:83: comm "
               "kworker/u2:1: Detected aborted journal",
       .kind = Kind::kFsError,
       .device = "vda",
       .detail = "EXT4-fs",
       .time = 300.2},
      {.line = "[  300.200001] EXT4-fs (vda): Remounting filesystem read-only",
       .kind = Kind::kFsError,
       .device = "vda",
       .detail = "EXT4-fs",
       .time = 300.200001},
      {.line = "EXT4-fs (vda1): error count since last fsck: 5",
       .kind = Kind::kFsError,
       .device = "vda1",
       .detail = "EXT4-fs"},
      {.line = "Aborting journal on device vda1-8.",
       .kind = Kind::kFsError,
       .device = "vda1-8",
       .detail = "jbd2"},
      {.line = "XFS (vdb): Corruption detected. Unmount and run xfs_repair",
       .kind = Kind::kFsError,
       .device = "vdb",
       .detail = "XFS"},
      {.line = "XFS (vdb): Filesystem has been shut down due to log error (0x2).",
       .kind = Kind::kFsError,
       .device = "vdb",
       .detail = "XFS"},
      {.line = "BTRFS error (device vdc: state EA): bdev /dev/vdc errs: wr 1, rd 0, flush 0, "
               "corrupt 0, gen 0",
       .kind = Kind::kFsError,
       .device = "vdc",
       .detail = "BTRFS"},
      {.line = "BTRFS critical (device vdc): corrupt leaf: root=2 block=30408704 slot=4",
       .kind = Kind::kFsError,
       .device = "vdc",
       .detail = "BTRFS"},
      {.line = "[  301.0] I/O error, dev vda, sector 2048 op 0x1:(WRITE) flags 0x800 phys_seg 1 "
               "prio class 2",
       .kind = Kind::kFsError,
       .device = "vda",
       .detail = "block",
       .time = 301.0},
      {.line = "Buffer I/O error on dev vda1, logical block 0, lost async page write",
       .kind = Kind::kFsError,
       .device = "vda1",
       .detail = "block"},
      {.line = "dd: error writing '/root/fill': No space left on device", .kind = Kind::kNoSpace},
      {.line = "[  500.000000] systemd-journald[150]: Failed to write entry (22 items, 700 "
               "bytes), ignoring: No space left on device",
       .kind = Kind::kNoSpace,
       .time = 500.0},
      {.line = "You are in emergency mode. After logging in, type \"journalctl -xb\" to view",
       .kind = Kind::kEmergencyMode,
       .detail = "emergency"},
      {.line = "Entering emergency mode. Exit the shell to continue.",
       .kind = Kind::kEmergencyMode,
       .detail = "emergency"},
      {.line = "Give root password for maintenance",
       .kind = Kind::kEmergencyMode,
       .detail = "emergency"},
      {.line = "Cannot open access to console, the root account is locked.",
       .kind = Kind::kEmergencyMode,
       .detail = "emergency"},
      {.line = "You are in rescue mode. After logging in, type \"journalctl -xb\" to view",
       .kind = Kind::kEmergencyMode,
       .detail = "rescue"},
      {.line = "ALERT!  /dev/vda1 does not exist.  Dropping to a shell!",
       .kind = Kind::kEmergencyMode,
       .detail = "initramfs"},
      {.line = "(initramfs) ls /dev", .kind = Kind::kEmergencyMode, .detail = "initramfs"},
  });
}

TEST(ParseConsoleLine, FindsTheKernelLineBehindPrefixesAndPrompts) {
  ExpectFacts({
      {.line = "<3>[   12.345678] Out of memory: Killed process 5 (x) total-vm:1kB, anon-rss:1kB, "
               "file-rss:0kB, shmem-rss:0kB",
       .kind = Kind::kOomKill,
       .pid = 5,
       .process = "x",
       .kib = 1,
       .time = 12.345678},
      {.line = "[   12.345678][  T123] INFO: task sh:9 blocked for more than 30 seconds.",
       .kind = Kind::kHungTask,
       .pid = 9,
       .process = "sh",
       .seconds = 30,
       .time = 12.345678},
      // The kernel's line lands after a prompt that had no newline yet.
      {.line = "kumo login: [   45.000001] Out of memory: Killed process 212 (dropbear) "
               "total-vm:4372kB, anon-rss:1024kB, file-rss:2816kB, shmem-rss:256kB, UID:0",
       .kind = Kind::kOomKill,
       .pid = 212,
       .process = "dropbear",
       .kib = 4096,
       .time = 45.000001},
      // A person echoing kernel text is taken at its word; fine for evidence.
      {.line = "root@kumo:~# echo 'Kernel panic - not syncing: test'",
       .kind = Kind::kKernelPanic,
       .detail = "test'"},
  });
}

TEST(ParseConsoleLine, IgnoresOtherLinesAndNearMisses) {
  for (std::string_view line : {
           "",
           "    ",
           "Out of memory",
           "echo Out of memory",
           "Out of memory: Killed process",
           "Out of memmory: Killed process 212 (dropbear) total-vm:4372kB, anon-rss:1024kB",
           "Out of memory: Killed process abc (x) total-vm:1kB",
           "Out of memory: Killed process 99999999999999999999999 (x) total-vm:1kB",
           "Out of memory: Killed process 12 (x) no vm figures",
           "oom_reaper: reaped process 212 (dropbear), now anon-rss:0kB, file-rss:0kB",
           "[    0.000000] Command line: BOOT_IMAGE=/vmlinuz root=/dev/vda1 console=ttyS0",
           "Linux version",
           "Linux version 6.1",
           "Booting Linux version 6.1.0 (x)",
           "Kernel panic",
           "Oops, I did it again",
           "INFO: task hog:12 blocked for more than many seconds.",
           "INFO: task hog blocked for more than 12 seconds.",
           "watchdog: BUG: soft lockup - CPU#x stuck for 2s! [a:1]",
           "rcu: INFO: rcu_sched is fine",
           "[  OK  ] Started ssh.service - OpenBSD Secure Shell server.",
           "[  OK  ] Stopped systemd-fsck-root.service - File System Check on Root Device.",
           "[  OK  ] Started systemd-fsckd.service - File System Check Daemon to report status.",
           "See 'systemctl status systemd-fsck-root.service' for details.",
           "/dev/vda1: fsck done",
           "EXT4-fs (vda1): mounted filesystem with ordered data mode. Quota mode: none.",
           "EXT4-fs (vda1): re-mounted. Quota mode: none.",
           "XFS (vdb): Mounting V5 Filesystem",
           "BTRFS info (device vdc): using crc32c (crc32c-intel) checksum algorithm",
           "/dev/vda: |=== no percent",
           "/dev/vda: |=====   / 134.5%",
           "/dev/vda: 11/65536 things, 8000/262144 blocks",
           "Pass the salt: please",
           "fsck exited with status code",
           "[   12.5] usb 1-1: new high-speed USB device number 2 using xhci_hcd",
           "random: crng init done",
       }) {
    EXPECT_FALSE(ParseConsoleLine(line).has_value()) << line;
  }
}

TEST(ParseConsoleLine, BoundsWhatItKeeps) {
  std::string name(300, 'n');
  auto fact = ParseConsoleLine(name + " invoked oom-killer: gfp_mask=0x0");
  ASSERT_TRUE(fact.has_value());
  EXPECT_EQ(fact->process.size(), kMaxFactField);
  // Never half a character, whatever the cut.
  fact = ParseConsoleLine("\xc3\xa9" + std::string(63, 'x') + "\xc3\xa9 invoked oom-killer: x");
  ASSERT_TRUE(fact.has_value());
  EXPECT_EQ(fact->process, "\xc3\xa9" + std::string(62, 'x'));
  fact = ParseConsoleLine(
      "Out of memory: Killed process 1 (x) total-vm:1kB, anon-rss:18446744073709551615kB, "
      "file-rss:1kB, shmem-rss:1kB");
  ASSERT_TRUE(fact.has_value());
  EXPECT_EQ(fact->kib, UINT64_MAX);  // saturates, never wraps
  fact = ParseConsoleLine("Kernel panic - not syncing: " + std::string(2000, 'p'));
  ASSERT_TRUE(fact.has_value());
  EXPECT_EQ(fact->text.size(), kMaxConsoleLine);
  EXPECT_EQ(fact->detail.size(), kMaxConsoleLine);
}

TEST(ConsoleFactKindName, NamesEveryKindOnce) {
  std::set<std::string_view> names;
  for (int k = static_cast<int>(Kind::kBootBanner); k <= static_cast<int>(Kind::kEmergencyMode);
       ++k) {
    std::string_view name = ConsoleFactKindName(static_cast<Kind>(k));
    EXPECT_NE(name, "unknown");
    names.insert(name);
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(Kind::kEmergencyMode) + 1);
  EXPECT_EQ(ConsoleFactKindName(Kind::kOomKill), "oom_kill");
  EXPECT_EQ(ConsoleFactKindName(Kind::kKernelPanic), "kernel_panic");
}

// What the diagnosis sees of an OOM as the serial console carries it.
TEST(ConsoleLines, TurnAnOomOnTheConsoleIntoFacts) {
  std::string_view console =
      "\x1b]0;kumo\x07kumo login: [   41.870503] hog invoked oom-killer: gfp_mask=0x140cca("
      "GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0\r\n"
      "[   41.870600] CPU: 0 PID: 301 Comm: hog Not tainted 6.1.0-28-cloud-amd64 #1\r\n"
      "[   41.912245] Out of memory: Killed process 212 (dropbear) total-vm:4372kB, anon-rss:"
      "1024kB, file-rss:2816kB, shmem-rss:256kB, UID:0 pgtables:48kB oom_score_adj:1000\r\n"
      "[   42.100000] Out of memory: Killed process 301 (hog) total-vm:210000kB, anon-rss:"
      "194000kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:420kB oom_score_adj:0\r\n";
  ConsoleLineSplitter splitter;
  std::vector<ConsoleFact> facts;
  splitter.Feed(console, [&](std::string_view line) {
    if (auto fact = ParseConsoleLine(line)) facts.push_back(std::move(*fact));
  });
  ASSERT_EQ(facts.size(), 3u);
  EXPECT_EQ(facts[0].kind, Kind::kOomInvoked);
  EXPECT_EQ(facts[1].process, "dropbear");
  EXPECT_EQ(facts[1].kib, 4096u);
  EXPECT_EQ(facts[2].process, "hog");
  EXPECT_EQ(facts[2].pid, 301);
  EXPECT_DOUBLE_EQ(*facts[2].kernel_time_s, 42.1);
}

}  // namespace
}  // namespace kumo::diagnosis
