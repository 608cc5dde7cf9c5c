// Console lines: turns a guest's serial console output (untrusted bytes, as
// the guest prints them) into clean lines, and clean kernel / boot lines into
// typed facts for the diagnosis. Both are pure: no I/O, no clock, no throw.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace kumo::diagnosis {

inline constexpr size_t kMaxConsoleLine = 512;  // bytes kept of one line
inline constexpr size_t kMaxEscape = 64;        // bytes of one escape sequence before it is
                                                // given up and the rest read as text
inline constexpr size_t kMaxFactField = 64;     // bytes kept of ConsoleFact::process / device

// Turns a console byte stream into clean lines:
//  - a line ends at \n, \r or \r\n (an e2fsck -C0 progress bar redrawn with \r
//    gives one line per redraw);
//  - ANSI/VT100 escape sequences are removed: CSI "\x1b[...X", OSC/DCS/PM/APC
//    strings "\x1b]...BEL" or "...\x1b\\", two-byte "\x1b x" and charset
//    designations "\x1b(B"; one longer than kMaxEscape bytes is given up and
//    the rest of it read as text, so a sequence that never ends cannot swallow
//    the stream;
//  - other control characters are dropped (0x00-0x1f except tab, which becomes
//    a space; 0x7f; and the C1 controls U+0080-U+009F);
//  - bytes >= 0x80 that are not valid UTF-8 become '?' (one per maximal invalid
//    subsequence), so every line is valid UTF-8;
//  - a line longer than kMaxConsoleLine is reported as soon as it reaches that
//    length (cut at a character boundary), and the rest of it up to its end is
//    dropped;
//  - trailing spaces are removed, and lines empty after cleaning are not reported.
// State between Feed calls is bounded: one partial line, a partial UTF-8
// character and an escape-sequence state (no escape bytes are kept).
class ConsoleLineSplitter {
 public:
  ConsoleLineSplitter();
  void Feed(std::string_view bytes, const std::function<void(std::string_view line)>& on_line);
  void Reset();  // forget the partial line (a new boot, a new connection)
  // The cleaned partial line not yet ended: a prompt waiting for input, such as
  // "(initramfs) " or "login: ", is only ever seen here. Empty while the rest of
  // an overlong line is being dropped.
  std::string_view Pending() const;

 private:
  enum class Escape { kNone, kEsc, kEscIntermediate, kCsi, kString, kStringEsc };
  enum class Utf8Step { kMore, kDone, kBroken };  // kBroken: c is not part of the character

  void Consume(unsigned char c, const std::function<void(std::string_view)>& on_line);
  bool ConsumeEscape(unsigned char c);  // false: c is not part of the sequence
  Utf8Step ConsumeUtf8(unsigned char c);
  void StartUtf8(unsigned char lead);
  void Append(std::string_view text, const std::function<void(std::string_view)>& on_line);
  void EndLine(const std::function<void(std::string_view)>& on_line);

  std::string line_;
  bool dropping_ = false;  // the line reached kMaxConsoleLine; drop up to its end
  Escape escape_ = Escape::kNone;
  size_t escape_bytes_ = 0;
  char utf8_[4] = {};
  size_t utf8_have_ = 0;
  size_t utf8_need_ = 0;  // total bytes of the character being read; 0: none
};

enum class ConsoleFactKind {
  kBootBanner,   // "Linux version 6.1.0-… (…)": a new kernel boot starts; detail = release
  kOomInvoked,   // "hog invoked oom-killer: gfp_mask=…": process = hog
  kOomKill,      // "Out of memory: Killed process 212 (dropbear) total-vm:…kB, anon-rss:…kB,
                 // file-rss:…kB, shmem-rss:…kB, …", also "Memory cgroup out of memory: …";
                 // pid, process, kib = anon+file+shmem rss (0 when those fields do not parse)
  kKernelPanic,  // "Kernel panic - not syncing: …" (also its "---[ end Kernel panic …" line);
                 // detail = the text after "not syncing: "
  kKernelBug,  // "BUG: unable to handle page fault…", "Oops: …", "general protection fault…",
               // "kernel BUG at …", hard lockups; detail = the message from the match on
  kHungTask,   // "INFO: task jbd2/vda-8:123 blocked for more than 120 seconds." process,
               // pid, seconds
  kSoftLockup,   // "watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [yes:301]" seconds,
                 // process, pid; detail = "CPU#0"
  kRcuStall,     // "rcu: INFO: rcu_sched self-detected stall on CPU" / "rcu_preempt detected
                 // stalls"; detail = the RCU flavour ("rcu_sched")
  kFsckStarted,  // a filesystem check begins ("fsck from util-linux …", "e2fsck 1.47.0 (…)",
                 // "… check forced.", "Pass 1: …", systemd "Starting … File System Check …",
                 // "A start job is running for … File System Check …" while it lasts);
                 // device when the line names one
  kFsckProgress,   // e2fsck -C 0: "/dev/vda: |=====     / 34.5%" → percent 34.5, device; also
                   // systemd-fsck's "/dev/vda: fsck 34.5% complete...", and "Pass 2: …" to
                   // "Pass 5: …" with percent -1 and detail "Pass 2"
  kFsckPassed,     // "/dev/vda: 11/65536 files (0.0% non-contiguous), 8000/262144 blocks",
                   // "/dev/vda: clean, …", systemd "Finished … File System Check …"
  kFsckFailed,     // "UNEXPECTED INCONSISTENCY; RUN fsck MANUALLY.", "fsck failed …", "Failed to
                   // start … File System Check …", "fsck exited with status code 4" (not 0/1)
  kFsError,        // "EXT4-fs error (device vda): …", "EXT4-fs (vda): Remounting filesystem
                   // read-only", XFS/Btrfs equivalents, block I/O errors; device; detail = the
                   // source ("EXT4-fs", "XFS", "BTRFS", "jbd2", "block")
  kNoSpace,        // any line containing "No space left on device"
  kEmergencyMode,  // systemd emergency / rescue mode, sulogin, the initramfs shell; detail =
                   // "emergency", "rescue" or "initramfs"
};
std::string_view ConsoleFactKindName(ConsoleFactKind kind);  // "oom_kill", "kernel_panic", ...

struct ConsoleFact {
  ConsoleFactKind kind;
  std::string text;     // the whole (clean) line, for the evidence quote; ≤ kMaxConsoleLine
  int64_t pid = 0;      // when the line names one
  std::string process;  // ditto, at most kMaxFactField bytes
  uint64_t kib = 0;     // kOomKill: rss of the victim
  int64_t seconds = 0;  // kHungTask, kSoftLockup
  double percent = -1;  // kFsckProgress
  std::string device;   // fsck / fs error lines, at most kMaxFactField bytes
  std::string detail;   // kKernelPanic: the reason; otherwise see the kind; ≤ kMaxConsoleLine
  std::optional<double> kernel_time_s;  // the "[   12.345678]" printk prefix, when present
};

// Parses one clean line (as ConsoleLineSplitter gives them; also tolerates a
// leading printk timestamp "[   12.345678] ", a caller id "[    T1]", a
// syslog-ish "<6>" prefix, and user text printed before the kernel's line on
// the same console line, such as a "login: " prompt). nullopt for any other
// line. Pure; never throws; linear in the line's length.
std::optional<ConsoleFact> ParseConsoleLine(std::string_view line);

}  // namespace kumo::diagnosis
