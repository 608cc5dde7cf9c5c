// End to end: the state directory on a small filesystem of its own (a
// size-limited tmpfs the test mounts), filled up while a server runs. Force
// stop is the one action that must always work, and exactly then.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "e2e/kumod_harness.h"

namespace kumo {
namespace {

using testing::json;
using testing::KumodHarness;
using namespace std::chrono_literals;

class FullDisk : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
    std::filesystem::create_directories(kumod_.state_dir());
    ASSERT_EQ(mount("tmpfs", kumod_.state_dir().c_str(), "tmpfs", MS_NOSUID | MS_NODEV,
                    "size=48m,mode=0700"),
              0)
        << "mount tmpfs: " << strerror(errno);
    mounted_ = true;
    std::string err;
    ASSERT_TRUE(kumod_.Start(&err)) << err;
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "--- kumod log ---\n" << kumod_.log() << "\n";
    if (!mounted_) return;
    kumod_.Stop();
    // QEMUs may still hold files there: detach it now, freed when they end.
    umount2(kumod_.state_dir().c_str(), MNT_DETACH);
  }

  // Writes files until the filesystem has no room left, to the last page:
  // 64 KiB at a time, then 4 KiB (a 64 KiB write that fails may leave up to
  // that much free). Called again right before what must meet a full disk,
  // in case kumod or QEMU freed something in between (CI saw a create
  // succeed on a disk filled 10 s earlier).
  void Fill() {
    for (size_t size : {size_t{64} * 1024, size_t{4} * 1024}) {
      std::ofstream out(kumod_.state_dir() + "/filler-" + std::to_string(fills_++),
                        std::ios::binary);
      std::string chunk(size, 'x');
      while (out.write(chunk.data(), static_cast<std::streamsize>(chunk.size())) && out.flush()) {
      }
    }
  }
  int fills_ = 0;

  KumodHarness kumod_;
  bool mounted_ = false;
};

TEST_F(FullDisk, ForceStopWorksAndIsRecordedOnceSpaceReturns) {
  auto created = kumod_.Call("POST", "/v1/servers", {{"name", "tight"}, {"memory_mib", 192}});
  ASSERT_EQ(created.status, 201) << created.body;
  json running = kumod_.WaitStatus("tight", "running", 180);
  ASSERT_EQ(running["status"], "running") << running.dump();
  const pid_t qemu = running["qemu_pid"].get<pid_t>();

  Fill();
  auto host = kumod_.Call("GET", "/v1/host");
  ASSERT_EQ(host.status, 200) << host.body;
  EXPECT_EQ(host.json()["state_dir"]["low"], true) << host.body;

  // Create fails cleanly: it says why and leaves nothing behind.
  Fill();
  auto refused = kumod_.Call("POST", "/v1/servers", {{"name", "more"}, {"memory_mib", 192}});
  if (refused.status < 400) {
    std::cerr << "--- the state dir after the create that should have failed ---\n";
    for (const auto& entry : std::filesystem::recursive_directory_iterator(kumod_.state_dir())) {
      std::error_code ec;
      std::cerr << entry.path().string() << " " << entry.file_size(ec) << "\n";
    }
  }
  EXPECT_GE(refused.status, 400) << refused.body;
  if (refused.status < 400) {
    // Started after all: stop its QEMU now, or it outlives the test.
    kumod_.Call("DELETE", "/v1/servers/more?force=true");
  }
  EXPECT_NE(refused.body.find("No space left on device"), std::string::npos) << refused.body;
  EXPECT_EQ(kumod_.Call("GET", "/v1/servers/more").status, 404);
  EXPECT_FALSE(std::filesystem::exists(kumod_.state_dir() + "/servers/more"));

  // Force stop: the guest is stopped, whatever the store can write.
  std::string out;
  EXPECT_EQ(kumod_.RunCli({"stop", "--force", "tight"}, &out), 0) << out;
  for (int i = 0; i < 100 && kill(qemu, 0) == 0; ++i) std::this_thread::sleep_for(50ms);
  EXPECT_NE(kill(qemu, 0), 0) << "QEMU still runs after a force stop on a full disk";
  json stopped = kumod_.WaitStatus("tight", "stopped", 10);
  EXPECT_EQ(stopped["status"], "stopped") << stopped.dump();
  EXPECT_EQ(stopped["power"], "off");

  // Space returns: whatever was kept in memory reaches the store.
  for (int i = 0; i < fills_; ++i) {
    std::filesystem::remove(kumod_.state_dir() + "/filler-" + std::to_string(i));
  }
  int unsaved = -1;
  for (int i = 0; i < 100 && unsaved != 0; ++i) {
    std::this_thread::sleep_for(100ms);
    unsaved = kumod_.Call("GET", "/v1/host").json()["state_dir"]["unsaved_changes"].get<int>();
  }
  EXPECT_EQ(unsaved, 0);
  kumod_.Kill9();
  std::string err;
  ASSERT_TRUE(kumod_.Start(&err)) << err;
  json after = kumod_.Server("tight");
  EXPECT_EQ(after["status"], "stopped") << after.dump();
  EXPECT_EQ(after["status_reason"], "stopped (forced)") << after.dump();
}

}  // namespace
}  // namespace kumo
