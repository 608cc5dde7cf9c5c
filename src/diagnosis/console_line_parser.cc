// ParseConsoleLine: the message shapes are those Linux 6.1 (mm/oom_kill.c,
// kernel/panic.c, kernel/hung_task.c, kernel/watchdog.c, kernel/rcu/, the x86
// and arm64 die paths, fs/ext4, fs/xfs, fs/btrfs, block/), e2fsprogs 1.47
// (e2fsck/unix.c), util-linux fsck, initramfs-tools, dracut and systemd 252 print.
// Every matcher does a fixed number of scans of the line: linear overall.
#include <charconv>
#include <limits>

#include "diagnosis/console_lines.h"
#include "diagnosis/line_match.h"

namespace kumo::diagnosis {
namespace {

using namespace line_match;
using Kind = ConsoleFactKind;

// "[   12.345678]" at s[at]; on success `end` is just past the ']'.
std::optional<double> ParseTimestamp(string_view s, size_t at, size_t& end) {
  size_t pos = at + 1;
  while (pos < s.size() && s[pos] == ' ') ++pos;
  size_t digits = pos;
  while (pos < s.size() && IsDigit(s[pos])) ++pos;
  if (pos == digits || pos - digits > 12 || pos >= s.size() || s[pos] != '.') return std::nullopt;
  size_t frac = ++pos;
  while (pos < s.size() && IsDigit(s[pos])) ++pos;
  if (pos == frac || pos - frac > 9 || pos >= s.size() || s[pos] != ']') return std::nullopt;
  double value = 0;
  std::from_chars(s.data() + digits, s.data() + pos, value);
  end = pos + 1;
  return value;
}

// The message of a line, without "<6>", the printk timestamp, a caller id
// "[    T1]", or text the console printed before the timestamp (a prompt).
string_view Message(string_view line, std::optional<double>& time) {
  string_view s = line;
  if (s.size() > 2 && s[0] == '<') {
    size_t close = s.find('>');
    if (close != npos && close > 1 && close < 5) {
      bool digits = true;
      for (size_t i = 1; i < close; ++i) digits = digits && IsDigit(s[i]);
      if (digits) s.remove_prefix(close + 1);
    }
  }
  for (size_t at = s.find('['); at != npos; at = s.find('[', at + 1)) {
    size_t end = 0;
    time = ParseTimestamp(s, at, end);
    if (!time) continue;
    s.remove_prefix(end);
    size_t caller_end = s.find(']');
    if (!s.empty() && s[0] == '[' && caller_end != npos && caller_end < 12) {
      string_view id = TrimLeft(s.substr(1, caller_end - 1));
      if (id.size() > 1 && (id[0] == 'T' || id[0] == 'C')) s.remove_prefix(caller_end + 1);
    }
    break;
  }
  return TrimLeft(s);
}

// The value of "key:NkB" in s.
std::optional<uint64_t> KibField(string_view s, string_view key) {
  size_t at = s.find(key);
  if (at == npos) return std::nullopt;
  size_t pos = at + key.size();
  auto value = ParseUint(s, pos);
  if (!value || s.substr(pos, 2) != "kB") return std::nullopt;
  return value;
}

bool BootBanner(string_view m, ConsoleFact& f) {
  constexpr string_view kKey = "Linux version ";
  if (!m.starts_with(kKey)) return false;
  string_view release = Until(m, kKey.size(), " ");
  if (release.empty() || m.substr(kKey.size() + release.size(), 2) != " (") return false;
  f.detail = Bounded(release, kMaxFactField);
  return true;
}

// "Out of memory: Killed process 212 (dropbear) total-vm:…kB, anon-rss:…kB,
// file-rss:…kB, shmem-rss:…kB, UID:0 pgtables:…kB oom_score_adj:0"; the name
// may hold spaces and parentheses, so it ends at the last ") total-vm:".
bool OomKill(string_view m, ConsoleFact& f) {
  constexpr string_view kKilled = ": Killed process ";
  constexpr string_view kVm = ") total-vm:";
  size_t at = m.find(kKilled);
  if (at == npos) return false;
  string_view reason = m.substr(0, at);
  if (!Has(reason, "Out of memory") && !Has(reason, "out of memory")) return false;
  size_t pos = at + kKilled.size();
  auto pid = ParseInt(m, pos);
  size_t close = m.rfind(kVm);
  if (!pid || m.substr(pos, 2) != " (" || close == npos || close < pos + 2) return false;
  f.pid = *pid;
  f.process = Bounded(m.substr(pos + 2, close - pos - 2), kMaxFactField);
  string_view tail = m.substr(close + kVm.size());
  auto anon = KibField(tail, "anon-rss:");
  auto file = KibField(tail, "file-rss:");
  auto shmem = KibField(tail, "shmem-rss:");
  if (anon && file && shmem) {
    uint64_t max = std::numeric_limits<uint64_t>::max();
    f.kib = *anon > max - *file ? max : *anon + *file;
    f.kib = f.kib > max - *shmem ? max : f.kib + *shmem;
  }
  return true;
}

bool OomInvoked(string_view m, ConsoleFact& f) {
  size_t at = m.find(" invoked oom-killer: ");
  if (at == npos || at == 0) return false;
  f.process = Bounded(m.substr(0, at), kMaxFactField);
  return true;
}

bool KernelPanic(string_view m, ConsoleFact& f) {
  constexpr string_view kKey = "Kernel panic - not syncing: ";
  size_t at = m.find(kKey);
  if (at == npos) return false;
  string_view reason = m.substr(at + kKey.size());
  if (reason.ends_with(" ]---")) reason.remove_suffix(5);  // "---[ end Kernel panic … ]---"
  f.detail = Bounded(reason, kMaxConsoleLine);
  return true;
}

// "BUG: soft lockup - CPU#0 stuck for 22s! [yes:301]"
bool SoftLockup(string_view m, ConsoleFact& f) {
  constexpr string_view kKey = "BUG: soft lockup - CPU#";
  size_t at = m.find(kKey);
  if (at == npos) return false;
  size_t pos = at + kKey.size();
  if (!ParseUint(m, pos)) return false;
  size_t cpu = at + kKey.size() - 4;
  f.detail = std::string(m.substr(cpu, pos - cpu));  // "CPU#0"
  if (m.substr(pos, 11) != " stuck for ") return false;
  pos += 11;
  auto seconds = ParseInt(m, pos);
  if (!seconds || m.substr(pos, 4) != "s! [") return false;
  f.seconds = *seconds;
  size_t open = pos + 4;
  size_t close = m.rfind(']');
  size_t colon = close == npos ? npos : m.rfind(':', close);
  if (close == npos || colon == npos || colon < open) return true;
  size_t pid_pos = colon + 1;
  auto pid = ParseInt(m, pid_pos);
  if (!pid || pid_pos != close) return true;
  f.pid = *pid;
  f.process = Bounded(m.substr(open, colon - open), kMaxFactField);
  return true;
}

// "INFO: task jbd2/vda-8:123 blocked for more than 120 seconds."
bool HungTask(string_view m, ConsoleFact& f) {
  constexpr string_view kKey = "INFO: task ";
  constexpr string_view kBlocked = " blocked for more than ";
  size_t at = m.find(kKey);
  if (at == npos) return false;
  size_t start = at + kKey.size();
  size_t blocked = m.find(kBlocked, start);
  if (blocked == npos) return false;
  string_view who = m.substr(start, blocked - start);
  size_t colon = who.rfind(':');
  if (colon == npos) return false;
  size_t pid_pos = colon + 1;
  auto pid = ParseInt(who, pid_pos);
  size_t pos = blocked + kBlocked.size();
  auto seconds = ParseInt(m, pos);
  if (!pid || pid_pos != who.size() || !seconds || m.substr(pos, 7) != " second") return false;
  f.pid = *pid;
  f.process = Bounded(who.substr(0, colon), kMaxFactField);
  f.seconds = *seconds;
  return true;
}

// "rcu: INFO: rcu_sched self-detected stall on CPU", "rcu: INFO: rcu_preempt
// detected stalls on CPUs/tasks:", "… detected expedited stalls …".
bool RcuStall(string_view m, ConsoleFact& f) {
  size_t at = m.find("INFO: rcu");
  if (at == npos) return false;
  string_view flavour = Until(m, at + 6, " ");
  string_view rest = m.substr(at + 6 + flavour.size());
  if (!rest.starts_with(" self-detected stall") && !rest.starts_with(" detected stall") &&
      !rest.starts_with(" detected expedited stall")) {
    return false;
  }
  f.detail = Bounded(flavour, kMaxFactField);
  return true;
}

bool KernelBug(string_view m, ConsoleFact& f) {
  size_t at = npos;
  if (m.starts_with("BUG: ")) {
    at = 0;
  } else if (size_t oops = m.find("Oops");
             oops != npos && (m.substr(oops + 4, 2) == ": " || m.substr(oops + 4, 3) == " - ") &&
             m.find(" [#", oops) != npos) {
    at = oops;
  } else {
    for (string_view key :
         {"kernel BUG at ", "Unable to handle kernel ", "Watchdog detected hard LOCKUP",
          "general protection fault,", "general protection fault:"}) {
      if ((at = m.find(key)) != npos) break;
    }
  }
  if (at == npos) return false;
  f.detail = Bounded(m.substr(at), kMaxConsoleLine);
  return true;
}

bool SetDevice(ConsoleFact& f, string_view device, string_view source) {
  f.device = Bounded(device, kMaxFactField);
  f.detail = std::string(source);
  return true;
}

bool FsError(string_view m, ConsoleFact& f) {
  size_t at;
  for (string_view fs : {"EXT4-fs", "EXT3-fs", "EXT2-fs"}) {
    std::string error = std::string(fs) + " error (device ";
    if ((at = m.find(error)) != npos) return SetDevice(f, Until(m, at + error.size(), ")"), fs);
    std::string notice = std::string(fs) + " (";
    if ((at = m.find(notice)) != npos) {
      string_view said = m.substr(at);
      if (Has(said, "Remounting filesystem read-only") ||
          Has(said, "error count since last fsck") || Has(said, "I/O error")) {
        return SetDevice(f, Until(m, at + notice.size(), ")"), fs);
      }
    }
  }
  if ((at = m.find("Aborting journal on device ")) != npos) {
    return SetDevice(f, Until(m, at + 27, ". "), "jbd2");
  }
  if ((at = m.find("XFS (")) != npos) {
    string_view said = m.substr(at);
    if (Has(said, "orruption") || Has(said, "hut down") || Has(said, "Shutting down") ||
        Has(said, "I/O error") || Has(said, "I/O Error")) {
      return SetDevice(f, Until(m, at + 5, ")"), "XFS");
    }
  }
  for (string_view level :
       {"BTRFS error (device ", "BTRFS critical (device ", "BTRFS alert (device ",
        "BTRFS emergency (device ", "BTRFS: error (device "}) {
    if ((at = m.find(level)) != npos)
      return SetDevice(f, Until(m, at + level.size(), "): "), "BTRFS");
  }
  if ((at = m.find("I/O error, dev ")) != npos)
    return SetDevice(f, Until(m, at + 15, ", "), "block");
  if ((at = m.find("Buffer I/O error on dev ")) != npos) {
    return SetDevice(f, Until(m, at + 24, ", "), "block");
  }
  return false;
}

bool EmergencyMode(string_view m, ConsoleFact& f) {
  struct Sign {
    string_view text;
    string_view mode;
  };
  static constexpr Sign kSigns[] = {
      {"You are in emergency mode", "emergency"},
      {"Entering emergency mode", "emergency"},
      {"Give root password for maintenance", "emergency"},
      {"Cannot open access to console, the root account is locked", "emergency"},
      {"(Repair filesystem)", "emergency"},
      {"You are in rescue mode", "rescue"},
      {"Entering rescue mode", "rescue"},
      {"Dropping to a shell", "initramfs"},
  };
  for (const Sign& sign : kSigns) {
    if (Has(m, sign.text)) {
      f.detail = std::string(sign.mode);
      return true;
    }
  }
  if (!m.starts_with("(initramfs)")) return false;
  f.detail = "initramfs";
  return true;
}

bool NoSpace(string_view m, ConsoleFact&) { return Has(m, "No space left on device"); }

struct Matcher {
  Kind kind;
  bool (*match)(string_view, ConsoleFact&);
};

// Most specific first: a soft lockup is also a "BUG: " line.
constexpr Matcher kMatchers[] = {
    {Kind::kBootBanner, BootBanner},
    {Kind::kOomKill, OomKill},
    {Kind::kOomInvoked, OomInvoked},
    {Kind::kKernelPanic, KernelPanic},
    {Kind::kSoftLockup, SoftLockup},
    {Kind::kHungTask, HungTask},
    {Kind::kRcuStall, RcuStall},
    {Kind::kKernelBug, KernelBug},
    {Kind::kFsError, FsError},
    {Kind::kFsckStarted, MatchFsckLine},  // sets its own kind
    {Kind::kEmergencyMode, EmergencyMode},
    {Kind::kNoSpace, NoSpace},
};

}  // namespace

std::optional<ConsoleFact> ParseConsoleLine(string_view line) {
  std::optional<double> time;
  string_view message = Message(line, time);
  if (message.empty()) return std::nullopt;
  for (const Matcher& matcher : kMatchers) {
    ConsoleFact fact;
    fact.kind = matcher.kind;
    if (!matcher.match(message, fact)) continue;
    fact.text = Bounded(line, kMaxConsoleLine);
    fact.kernel_time_s = time;
    return fact;
  }
  return std::nullopt;
}

std::string_view ConsoleFactKindName(ConsoleFactKind kind) {
  switch (kind) {
    case Kind::kBootBanner:
      return "boot_banner";
    case Kind::kOomInvoked:
      return "oom_invoked";
    case Kind::kOomKill:
      return "oom_kill";
    case Kind::kKernelPanic:
      return "kernel_panic";
    case Kind::kKernelBug:
      return "kernel_bug";
    case Kind::kHungTask:
      return "hung_task";
    case Kind::kSoftLockup:
      return "soft_lockup";
    case Kind::kRcuStall:
      return "rcu_stall";
    case Kind::kFsckStarted:
      return "fsck_started";
    case Kind::kFsckProgress:
      return "fsck_progress";
    case Kind::kFsckPassed:
      return "fsck_passed";
    case Kind::kFsckFailed:
      return "fsck_failed";
    case Kind::kFsError:
      return "fs_error";
    case Kind::kNoSpace:
      return "no_space";
    case Kind::kEmergencyMode:
      return "emergency_mode";
  }
  return "unknown";
}

}  // namespace kumo::diagnosis
