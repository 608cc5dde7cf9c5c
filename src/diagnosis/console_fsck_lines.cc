// Filesystem-check lines: util-linux fsck, e2fsck 1.47 (e2fsck/unix.c: the
// version banner, the forced-check reasons, the -C 0 progress bar, the closing
// summary), initramfs-tools' checkfs, dracut, and systemd 252's systemd-fsck
// units as its status lines show them.
#include "diagnosis/line_match.h"

namespace kumo::diagnosis::line_match {
namespace {

using Kind = ConsoleFactKind;

bool Set(ConsoleFact& f, Kind kind, string_view device = {}) {
  f.kind = kind;
  f.device = Bounded(device, kMaxFactField);
  return true;
}

// e2fsck starts its lines with the device name ("/dev/vda1: …", "/dev/vda1 was
// not cleanly unmounted, …"), or the volume label when the filesystem has one.
string_view FirstWord(string_view m) {
  string_view word = Until(m, 0, " ");
  if (word.ends_with(':')) word.remove_suffix(1);
  return word;
}

// The device before "DEV: …" at `colon`, without a "systemd-fsck[1]: " or
// other logger's prefix before it.
string_view DeviceBefore(string_view m, size_t colon) {
  string_view head = m.substr(0, colon);
  size_t prefix = head.rfind(": ");
  return prefix == npos ? head : head.substr(prefix + 2);
}

// systemd's description "File System Check on /dev/disk/by-uuid/…" names the
// device; "File System Check on Root Device" does not.
string_view SystemdDevice(string_view m) {
  constexpr string_view kOn = "File System Check on ";
  size_t at = m.find(kOn);
  if (at == npos || m.substr(at + kOn.size(), 5) != "/dev/") return {};
  string_view device = Until(m, at + kOn.size(), " ");
  while (device.ends_with('.')) device.remove_suffix(1);
  return device;
}

bool Outcome(string_view m, ConsoleFact& f) {
  if (Has(m, "UNEXPECTED INCONSISTENCY; RUN fsck MANUALLY")) {
    string_view word = FirstWord(m);
    return Set(f, Kind::kFsckFailed, word == "UNEXPECTED" ? string_view() : word);
  }
  constexpr string_view kExited = "fsck exited with status code ";  // initramfs-tools
  if (size_t at = m.find(kExited); at != npos) {
    size_t pos = at + kExited.size();
    auto code = ParseUint(m, pos);
    if (!code) return false;
    // fsck(8): 0 no errors, 1 errors corrected; anything else needs a person.
    return Set(f, *code <= 1 ? Kind::kFsckPassed : Kind::kFsckFailed);
  }
  // initramfs-tools: "The root filesystem on /dev/vda1 requires a manual fsck"
  if (size_t at = m.find(" requires a manual fsck"); at != npos) {
    size_t on = m.rfind(" on ", at);
    return Set(f, Kind::kFsckFailed, on == npos ? string_view() : m.substr(on + 4, at - on - 4));
  }
  for (string_view failed :
       {"fsck failed", "fsck terminated by signal",
        "An error occurred during the file system check", "e2fsck: Cannot continue, aborting"}) {
    if (Has(m, failed)) return Set(f, Kind::kFsckFailed);
  }
  if (Has(m, "systemd-fsck") && Has(m, "Failed with result")) return Set(f, Kind::kFsckFailed);
  return false;
}

// systemd's status lines for systemd-fsck-root.service and systemd-fsck@….service,
// in any StatusUnitFormat: the description ("File System Check on …"), the unit
// name, or both. systemd-fsckd (the progress daemon) is not a check.
bool SystemdUnit(string_view m, ConsoleFact& f) {
  if (Has(m, "fsckd") ||
      (!Has(m, "File System Check") && !Has(m, "systemd-fsck-") && !Has(m, "systemd-fsck@"))) {
    return false;
  }
  if (Has(m, "Failed to start ") || m.starts_with("[FAILED]")) {
    return Set(f, Kind::kFsckFailed, SystemdDevice(m));
  }
  // systemd >= 248 says "Finished" for a oneshot unit; older ones "Started".
  if (Has(m, "Finished ") || Has(m, "Started ")) return Set(f, Kind::kFsckPassed, SystemdDevice(m));
  // "A start job is running for … (12s / no limit)" is redrawn while it lasts.
  if (Has(m, "Starting ") || Has(m, " job is running for ")) {
    return Set(f, Kind::kFsckStarted, SystemdDevice(m));
  }
  return false;
}

// "N/M" at s[pos...].
bool Ratio(string_view s, size_t& pos) {
  if (!ParseUint(s, pos) || pos >= s.size() || s[pos] != '/') return false;
  ++pos;
  return ParseUint(s, pos).has_value();
}

// e2fsck's last line: "DEV: clean, 11/65536 files, 8000/262144 blocks[ …]"
// when the check was skipped, "DEV: 11/65536 files (0.0% non-contiguous),
// 8000/262144 blocks" after one.
bool Summary(string_view m, ConsoleFact& f) {
  size_t files = m.find(" files");
  if (files == npos) return false;
  size_t colon = m.rfind(": ", files);
  if (colon == npos || colon == 0) return false;
  size_t pos = colon + 2;
  if (m.substr(pos, 7) == "clean, ") pos += 7;
  if (!Ratio(m, pos) || pos != files) return false;
  pos += 6;
  if (m.substr(pos, 2) == ", ") {
    pos += 2;
  } else {
    size_t close = m.find("non-contiguous), ", pos);
    if (m.substr(pos, 2) != " (" || close == npos) return false;
    pos = close + 17;
  }
  if (!Ratio(m, pos) || m.substr(pos, 7) != " blocks") return false;
  return Set(f, Kind::kFsckPassed, DeviceBefore(m, colon));
}

// e2fsck -C 0, redrawn after a \r: "DEV: |=====      / 34.5%" (the spinner is
// one of \|/-), "DEV: |=========| 100.0%" at the end of a pass. Under systemd,
// systemd-fsck draws "DEV: fsck 34.5% complete..." instead.
bool ProgressBar(string_view m, ConsoleFact& f) {
  size_t at = m.find(": |");
  size_t pos = at + 3;
  if (at != npos && at != 0) {
    while (pos < m.size() && m[pos] == '=') ++pos;
    while (pos < m.size() && m[pos] == ' ') ++pos;
    if (pos >= m.size() || string_view("\\|/-").find(m[pos]) == npos) return false;
    ++pos;
  } else if (at = m.find(": fsck "); at != npos && at != 0) {
    pos = at + 7;
  } else {
    return false;
  }
  while (pos < m.size() && m[pos] == ' ') ++pos;
  auto percent = ParseDecimal(m, pos);
  if (!percent || *percent > 100 || m.substr(pos, 1) != "%") return false;
  f.percent = *percent;
  return Set(f, Kind::kFsckProgress, DeviceBefore(m, at));
}

// "Pass 1: Checking inodes, blocks, and sizes" begins the check; "Pass 1B: …"
// and "Pass 2: …" to "Pass 5: …" are its progress (percent unknown).
bool Pass(string_view m, ConsoleFact& f) {
  if (!m.starts_with("Pass ") || m.size() < 8 || !IsDigit(m[5])) return false;
  size_t colon = m.find(": ");
  if (colon != 6 && !(colon == 7 && m[6] >= 'A' && m[6] <= 'E')) return false;
  if (colon == 6 && m[5] == '1') return Set(f, Kind::kFsckStarted);
  f.detail = std::string(m.substr(0, colon));
  return Set(f, Kind::kFsckProgress);
}

bool Started(string_view m, ConsoleFact& f) {
  if (Has(m, "fsck from util-linux")) return Set(f, Kind::kFsckStarted);
  if (m.starts_with("e2fsck ") && m.size() > 7 && IsDigit(m[7])) return Set(f, Kind::kFsckStarted);
  if (Has(m, ", check forced")) return Set(f, Kind::kFsckStarted, FirstWord(m));
  // fsck -V: "[/sbin/fsck.ext4 (1) -- /dev/vda1] fsck.ext4 -a -C0 /dev/vda1"
  if (size_t at = m.find(" -- ");
      m.starts_with("[/") && at != npos && Has(m.substr(0, at), "fsck")) {
    return Set(f, Kind::kFsckStarted, Until(m, at + 4, "]"));
  }
  // initramfs-tools: "Begin: Will now check root file system ... " /
  // "Begin: Checking root file system ... "
  if ((Has(m, "Will now check ") || Has(m, "Checking ")) && Has(m, " file system")) {
    return Set(f, Kind::kFsckStarted);
  }
  return false;
}

}  // namespace

bool MatchFsckLine(string_view m, ConsoleFact& f) {
  return Outcome(m, f) || SystemdUnit(m, f) || Summary(m, f) || ProgressBar(m, f) || Pass(m, f) ||
         Started(m, f);
}

}  // namespace kumo::diagnosis::line_match
