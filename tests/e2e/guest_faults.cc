#include "e2e/guest_faults.h"

#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

namespace kumo::testing {

const std::vector<std::string> kOomLines = {"Killed process", "Out of memory", "oom-kill:"};
const std::vector<std::string> kPanicLines = {"Kernel panic - not syncing", "Kernel panic"};
const std::vector<std::string> kHungTaskLines = {"blocked for more than", "INFO: task "};

namespace {

// Started with setsid and without the exec's pipes, so that the exec answers
// at once and the process outlives it.
constexpr const char* kOomSshd = R"(
sed -i 's|^::respawn:/usr/sbin/dropbear|::once:/usr/sbin/dropbear|' /etc/inittab || exit 1
kill -HUP 1 && sleep 1
pids=$(pidof dropbear) || { echo "dropbear is not running"; exit 1; }
for p in $pids; do echo 1000 > /proc/$p/oom_score_adj || exit 1; done
setsid tail /dev/zero </dev/null >/dev/null 2>&1 &
)";

constexpr const char* kLeak = R"(
setsid awk -v mib="$1" 'BEGIN {
  fmt = "%" (mib * 1048576) "s"
  while (1) { leak[n++] = sprintf(fmt, ""); system("sleep 1") }
}' </dev/null >/dev/null 2>&1 &
)";

constexpr const char* kPanic = R"(
(sleep 0.5; echo c > /proc/sysrq-trigger) </dev/null >/dev/null 2>&1 &
)";

constexpr const char* kHungTask = R"(
echo "$1" > /proc/sys/kernel/hung_task_timeout_secs || exit 1
dd if=/dev/zero of=/var/hung.img bs=1M count=8 2>/dev/null || exit 1
dev=$(losetup -f) && losetup "$dev" /var/hung.img && mke2fs -q "$dev" >/dev/null || exit 1
mkdir -p /mnt/hung && mount "$dev" /mnt/hung && fsfreeze --freeze /mnt/hung || exit 1
setsid touch /mnt/hung/blocked </dev/null >/dev/null 2>&1 &
)";

// A thousand directories per mkdir: a shell loop of one mkdir each would take
// minutes under TCG.
constexpr const char* kFsckLoad = R"(
mkdir -p /var/lib/fsck-load && cd /var/lib/fsck-load || exit 1
i=0
while [ $i -lt "$1" ]; do
  mkdir $i && cd $i && mkdir $(seq 1 1000) && cd .. || exit 1
  i=$((i + 1))
done
touch /forcefsck && sync
)";

constexpr const char* kBusy = R"(
for i in $(seq 1 $(nproc)); do
  setsid sh -c 'while :; do :; done' </dev/null >/dev/null 2>&1 &
done
)";

constexpr const char* kFill = R"(
dd if=/dev/zero of=/var/fill bs=1M 2>&1 | tail -n 3
sync
)";

// The agent runs this exec's shell: the kill waits until the exec's status
// has been collected by kumod (it polls every 100 ms).
constexpr const char* kAgentThenOom = R"(
sed -i 's|^::respawn:/sbin/kumo-agent|::once:/sbin/kumo-agent|' /etc/inittab || exit 1
kill -HUP 1
setsid sh -c 'sleep 2; kill -9 $(pidof kumo-agent); sleep "$1"; exec tail /dev/zero' \
  sh "$1" </dev/null >/dev/null 2>&1 &
)";

}  // namespace

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

GuestFaults::GuestFaults(KumodHarness* kumod, std::string server)
    : kumod_(kumod), server_(std::move(server)) {}

std::string GuestFaults::console_path() const {
  return kumod_->state_dir() + "/servers/" + server_ + "/console.log";
}

void GuestFaults::MarkConsole() {
  struct stat st {};
  mark_ = stat(console_path().c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

std::string GuestFaults::ConsoleLine(const std::vector<std::string>& needles) const {
  std::ifstream in(console_path(), std::ios::binary);
  in.seekg(static_cast<std::streamoff>(mark_));
  std::string line;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // a line still being written
    for (const auto& needle : needles) {
      if (line.find(needle) != std::string::npos) {
        while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
        return line;
      }
    }
  }
  return "";
}

int64_t GuestFaults::WaitForConsole(const std::vector<std::string>& needles, double timeout_s,
                                    std::string* line) const {
  const int64_t deadline = WallMs() + static_cast<int64_t>(timeout_s * 1000);
  do {
    std::string found = ConsoleLine(needles);
    if (!found.empty()) {
      if (line) *line = found;
      return WallMs();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (WallMs() < deadline);
  return 0;
}

HttpResult GuestFaults::Shell(const std::string& script, const std::vector<std::string>& args,
                              int timeout_s) {
  std::vector<std::string> argv = {"-c", script, "sh"};
  argv.insert(argv.end(), args.begin(), args.end());
  json body = {{"path", "/bin/sh"}, {"args", argv}, {"timeout_s", timeout_s}};
  return kumod_->Call("POST", "/v1/servers/" + server_ + "/exec", body);
}

bool GuestFaults::ShellOk(const std::string& script, const std::vector<std::string>& args,
                          FaultOutcome* out, int timeout_s) {
  HttpResult r = Shell(script, args, timeout_s);
  if (r.status == 200 && r.json().value("exit_code", -1) == 0) return true;
  out->ok = false;
  out->error = "exec in " + server_ + ": HTTP " + std::to_string(r.status) + " " + r.body;
  return false;
}

namespace {

// Fills in the line and its time, or says why not.
FaultOutcome WithLine(FaultOutcome out, const GuestFaults& faults,
                      const std::vector<std::string>& needles, double timeout_s) {
  out.line_ms = faults.WaitForConsole(needles, timeout_s, &out.line);
  out.ok = out.line_ms != 0;
  if (!out.ok) out.error = "no console line with '" + needles.front() + "'";
  return out;
}

}  // namespace

FaultOutcome GuestFaults::OomKillSshd(double timeout_s) {
  FaultOutcome out;
  MarkConsole();
  out.fault_ms = WallMs();
  if (!ShellOk(kOomSshd, {}, &out)) return out;
  return WithLine(out, *this, kOomLines, timeout_s);
}

FaultOutcome GuestFaults::SlowLeak(int mib_per_s) {
  FaultOutcome out;
  MarkConsole();
  out.fault_ms = WallMs();
  out.ok = ShellOk(kLeak, {std::to_string(mib_per_s)}, &out);
  return out;
}

FaultOutcome GuestFaults::KernelPanic(double timeout_s) {
  FaultOutcome out;
  MarkConsole();
  out.fault_ms = WallMs();
  if (!ShellOk(kPanic, {}, &out)) return out;
  return WithLine(out, *this, kPanicLines, timeout_s);
}

FaultOutcome GuestFaults::HungTask(int timeout_secs, double wait_s) {
  FaultOutcome out;
  MarkConsole();
  if (!ShellOk(kHungTask, {std::to_string(timeout_secs)}, &out)) return out;
  out.fault_ms = WallMs();
  return WithLine(out, *this, kHungTaskLines, wait_s);
}

FaultOutcome GuestFaults::FsckAtBoot(int dirs, double timeout_s) {
  FaultOutcome out;
  if (!ShellOk(kFsckLoad, {std::to_string((dirs + 999) / 1000)}, &out, 300)) return out;
  MarkConsole();
  auto r = kumod_->Call("POST", "/v1/servers/" + server_ + "/actions", {{"action", "reboot"}});
  if (r.status >= 300) {
    out.error = "reboot: HTTP " + std::to_string(r.status) + " " + r.body;
    return out;
  }
  out.fault_ms = WallMs();
  return WithLine(out, *this, {"Will now check root file system"}, timeout_s);
}

FaultOutcome GuestFaults::SaturateCpu() {
  FaultOutcome out;
  MarkConsole();
  out.ok = ShellOk(kBusy, {}, &out);
  out.fault_ms = WallMs();
  return out;
}

FaultOutcome GuestFaults::FillRootFs() {
  FaultOutcome out;
  MarkConsole();
  HttpResult r = Shell(kFill, {}, 300);
  out.fault_ms = WallMs();
  std::string said = r.status == 200 ? r.json().value("stdout", "") : r.body;
  out.ok = said.find("No space left on device") != std::string::npos;
  if (!out.ok)
    out.error = "dd did not fill the disk: HTTP " + std::to_string(r.status) + " " + said;
  return out;
}

FaultOutcome GuestFaults::KillAgentThenOom(int delay_s, double timeout_s) {
  FaultOutcome out;
  MarkConsole();
  if (!ShellOk(kAgentThenOom, {std::to_string(delay_s)}, &out)) return out;
  out.fault_ms = WallMs() + 2000;  // the script's sleep before the kill
  return WithLine(out, *this, kOomLines, timeout_s);
}

}  // namespace kumo::testing
