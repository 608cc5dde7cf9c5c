// End to end: the qemu-ga 7.2 commands that act on the guest's filesystems,
// disks and clock, run by kumo-agent in a real kumo guest (one boot) over the
// real virtio-serial channel: fsfreeze really freezes the root filesystem (a
// writer in the guest stalls until thaw, and the agent refuses other commands
// meanwhile), fstrim trims, set-time moves the clock and the RTC, file
// open/write/read/close round-trips a file the guest sees, fsinfo and disks
// describe the guest's virtio disk.
#include <gtest/gtest.h>

#include <sstream>
#include <thread>

#include "common/base64.h"
#include "e2e/guest_vm.h"
#include "guestlink/qga_client.h"

namespace kumo {
namespace {

using guestlink::json;
using guestlink::QgaClient;
using guestlink::QgaReply;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr int64_t kNs = 1'000'000'000;

// Splits "T1\nT2\n..." (seconds) and returns the longest gap between lines.
int64_t LongestGap(const std::string& lines, int64_t* count) {
  std::istringstream in(lines);
  int64_t prev = -1, t = 0, gap = 0;
  *count = 0;
  while (in >> t) {
    if (prev >= 0) gap = std::max(gap, t - prev);
    prev = t;
    ++*count;
  }
  return gap;
}

// One guest boot (10-20 s under TCG) serves all the checks, in order.
class GuestAgent : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    vm_ = new testing::GuestVm();
    agent_ = new QgaClient();
    std::string err;
    if (!vm_->Boot(&err) || !agent_->Connect(vm_->agent_socket(), Clock::now() + 30s, &err)) {
      boot_error_ = err;
    } else if (!agent_->Sync(Clock::now() + 90s)) {
      boot_error_ = "agent never answered";
    }
  }
  static void TearDownTestSuite() {
    delete agent_;
    delete vm_;
  }
  void SetUp() override { ASSERT_EQ(boot_error_, "") << vm_->serial_log(); }
  void TearDown() override {
    if (HasFailure()) std::cerr << "--- guest console ---\n" << vm_->serial_log() << "\n";
  }
  QgaReply Call(const std::string& cmd, const json& args = json()) {
    return agent_->Call(cmd, args, Clock::now() + 60s);
  }
  json Ok(const std::string& cmd, const json& args = json()) {
    auto r = Call(cmd, args);
    EXPECT_TRUE(r.ok) << cmd << ": " << r.error_class << " " << r.error_desc;
    return r.value;
  }
  // Runs `script` with sh in the guest; returns its output.
  std::string Sh(const std::string& script) {
    json r =
        Ok("guest-exec", {{"path", "/bin/sh"}, {"arg", {"-c", script}}, {"capture-output", true}});
    for (int i = 0; i < 600 && r.contains("pid"); ++i) {
      json s = Ok("guest-exec-status", {{"pid", r["pid"]}});
      if (s.value("exited", true)) {
        return s.contains("out-data") ? *Base64Decode(s["out-data"].get<std::string>()) : "";
      }
      std::this_thread::sleep_for(100ms);
    }
    ADD_FAILURE() << script << " did not finish";
    return "";
  }
  std::string ReadFile(const std::string& path) {
    int64_t h = Ok("guest-file-open", {{"path", path}}).get<int64_t>();
    std::string data;
    for (int i = 0; i < 100; ++i) {
      json r = Ok("guest-file-read", {{"handle", h}, {"count", 65536}});
      data += *Base64Decode(r["buf-b64"].get<std::string>());
      if (r["eof"].get<bool>()) break;
    }
    Ok("guest-file-close", {{"handle", h}});
    return data;
  }
  int64_t GuestTimeNs() { return Ok("guest-get-time").get<int64_t>(); }

  void CheckFilesystemsDisksAndFiles();
  void CheckSetTimeMovesTheClockAndTheRtc();
  void CheckFreezeBlocksWritesUntilThaw();

  static inline testing::GuestVm* vm_ = nullptr;
  static inline QgaClient* agent_ = nullptr;
  static inline std::string boot_error_;
};

void GuestAgent::CheckFilesystemsDisksAndFiles() {
  // fsinfo: the root is ext4 on the whole virtio disk vda, with its size.
  json fsinfo = Ok("guest-get-fsinfo");
  const json* root = nullptr;
  for (const auto& fs : fsinfo) {
    if (fs["mountpoint"] == "/") root = &fs;
  }
  ASSERT_TRUE(root) << fsinfo.dump();
  EXPECT_EQ((*root)["name"], "vda");
  EXPECT_EQ((*root)["type"], "ext4");
  ASSERT_EQ((*root)["disk"].size(), 1u) << root->dump();
  EXPECT_EQ((*root)["disk"][0]["bus-type"], "virtio");
  EXPECT_EQ((*root)["disk"][0]["dev"], "/dev/vda");
  EXPECT_TRUE((*root)["disk"][0]["pci-controller"]["slot"].is_number());
  int64_t disk_bytes = std::stoll(ReadFile("/sys/block/vda/size")) * 512;
  int64_t total = (*root)["total-bytes"].get<int64_t>();
  EXPECT_GT(total, disk_bytes * 8 / 10) << "disk " << disk_bytes;
  EXPECT_LE(total, disk_bytes);
  std::cout << "fsinfo /: " << root->dump() << " (disk " << disk_bytes << " bytes)\n";
  std::istringstream df(Sh("df -k / | tail -n 1"));
  std::string dev;
  int64_t df_total_kib = 0, df_used_kib = 0;
  df >> dev >> df_total_kib >> df_used_kib;
  EXPECT_NEAR(double((*root)["used-bytes"].get<int64_t>()) / 1024, double(df_used_kib), 2048.0);

  // disks: vda, a whole disk with its virtio address.
  json disks = Ok("guest-get-disks");
  bool vda = false;
  for (const auto& d : disks) {
    if (d["name"] != "/dev/vda") continue;
    vda = true;
    EXPECT_EQ(d["partition"], false);
    EXPECT_EQ(d["address"]["bus-type"], "virtio");
    EXPECT_EQ(d["address"]["pci-controller"], (*root)["disk"][0]["pci-controller"]);
  }
  EXPECT_TRUE(vda) << disks.dump();

  // File round trip, seen by the guest's own programs too.
  int64_t h =
      Ok("guest-file-open", {{"path", "/root/agent-file.txt"}, {"mode", "w"}}).get<int64_t>();
  EXPECT_EQ(Ok("guest-file-write", {{"handle", h}, {"buf-b64", Base64Encode("written by host\n")}}),
            json({{"count", 16}, {"eof", false}}));
  Ok("guest-file-close", {{"handle", h}});
  EXPECT_EQ(ReadFile("/root/agent-file.txt"), "written by host\n");
  EXPECT_EQ(Sh("cat /root/agent-file.txt"), "written by host\n");

  // fstrim trims the root filesystem.
  json trim = Ok("guest-fstrim");
  bool trimmed_root = false;
  for (const auto& p : trim["paths"]) {
    if (p["path"] != "/") continue;
    trimmed_root = true;
    EXPECT_FALSE(p.contains("error")) << p.dump();
    EXPECT_GT(p["trimmed"].get<int64_t>(), 0) << p.dump();
    std::cout << "fstrim /: " << p.dump() << "\n";
  }
  EXPECT_TRUE(trimmed_root) << trim.dump();
}

void GuestAgent::CheckSetTimeMovesTheClockAndTheRtc() {
  int64_t now = GuestTimeNs();
  int64_t future = now + 86400 * kNs;  // a day ahead
  EXPECT_EQ(Ok("guest-set-time", {{"time", future}}), json::object());
  EXPECT_NEAR(double(GuestTimeNs() - future) / kNs, 0, 30);
  // set-time also wrote the RTC: throw the system clock back to 2020, then
  // set-time without a time takes the clock from the RTC again.
  Sh("date -s '2020-01-01 00:00:00'");
  EXPECT_LT(GuestTimeNs(), now - 86400 * kNs);
  EXPECT_EQ(Ok("guest-set-time"), json::object());
  EXPECT_NEAR(double(GuestTimeNs() - future) / kNs, 0, 30);
  auto bad = Call("guest-set-time", {{"time", -1}});
  EXPECT_EQ(bad.error_class, "GenericError");
  EXPECT_EQ(bad.error_desc, "Invalid time");
  timespec host{};
  clock_gettime(CLOCK_REALTIME, &host);
  Ok("guest-set-time", {{"time", int64_t(host.tv_sec) * kNs + host.tv_nsec}});
}

void GuestAgent::CheckFreezeBlocksWritesUntilThaw() {
  EXPECT_EQ(Ok("guest-fsfreeze-status"), "thawed");
  EXPECT_EQ(Ok("guest-fsfreeze-freeze-list", {{"mountpoints", {"/nonexistent"}}}), 0);
  EXPECT_EQ(Ok("guest-fsfreeze-status"), "thawed");

  // A writer appends the time to a file on the root filesystem every second.
  json writer = Ok("guest-exec", {{"path", "/bin/sh"},
                                  {"arg",
                                   {"-c",
                                    "i=0; while [ $i -lt 60 ]; do date +%s >> "
                                    "/root/probe; i=$((i+1)); sleep 1; done"}}});
  std::this_thread::sleep_for(3s);

  int64_t frozen = Ok("guest-fsfreeze-freeze").get<int64_t>();
  EXPECT_GE(frozen, 1);
  EXPECT_EQ(Ok("guest-fsfreeze-status"), "frozen");
  auto refused = Call("guest-get-time");
  EXPECT_EQ(refused.error_class, "CommandNotFound");
  EXPECT_EQ(refused.error_desc,
            "Command guest-get-time has been disabled: the agent is in frozen state");
  EXPECT_EQ(Call("guest-file-open", {{"path", "/root/x"}, {"mode", "w"}}).error_class,
            "CommandNotFound");
  for (const auto& c : Ok("guest-info")["supported_commands"]) {
    bool allowed = c["name"] == "guest-ping" || c["name"] == "guest-info" ||
                   c["name"] == "guest-sync" || c["name"] == "guest-sync-delimited" ||
                   c["name"] == "guest-fsfreeze-status" || c["name"] == "guest-fsfreeze-thaw";
    if (!allowed) EXPECT_FALSE(c["enabled"].get<bool>()) << c.dump();
  }
  auto frozen_for = 8s;
  std::this_thread::sleep_for(frozen_for);
  EXPECT_EQ(Ok("guest-fsfreeze-thaw").get<int64_t>(), frozen);
  EXPECT_EQ(Ok("guest-fsfreeze-status"), "thawed");
  std::this_thread::sleep_for(3s);

  // The writer stalled for the whole freeze and went on after the thaw.
  int64_t lines = 0;
  int64_t gap = LongestGap(ReadFile("/root/probe"), &lines);
  EXPECT_GE(gap, 6) << "no write stalled during the freeze";
  std::cout << "froze " << frozen << " filesystem(s) for 8 s; the writer's longest stall: " << gap
            << " s over " << lines << " writes\n";
  EXPECT_GE(lines, 4);
  Sh("kill " + std::to_string(writer["pid"].get<int64_t>()));
}

// One test, so that ctest (which runs each test in its own process) boots
// the guest once.
TEST_F(GuestAgent, FsinfoDisksFilesTrimSetTimeAndFreezeActOnTheGuest) {
  {
    SCOPED_TRACE("fsinfo, disks, files, fstrim");
    CheckFilesystemsDisksAndFiles();
  }
  {
    SCOPED_TRACE("set-time");
    CheckSetTimeMovesTheClockAndTheRtc();
  }
  {
    SCOPED_TRACE("fsfreeze");
    CheckFreezeBlocksWritesUntilThaw();
  }
}

}  // namespace
}  // namespace kumo
