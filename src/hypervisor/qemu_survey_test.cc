#include "hypervisor/qemu_survey.h"

#include <gtest/gtest.h>

#include <thread>

#include "hypervisor/qemu_argv.h"
#include "support/child_process.h"

namespace kumo::hypervisor {
namespace {

using namespace std::chrono_literals;

std::string Cmdline(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args) s += a + '\0';
  return s;
}

TEST(QmpSocketOfCmdline, Table) {
  MachineSpec spec;
  spec.name = "web-1";
  spec.kernel = "/img/vmlinuz";
  spec.base_disk = "/img/disk.qcow2";
  spec.paths.run_dir = "/run/kumo/web-1";
  struct Case {
    const char* what;
    std::string cmdline;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"our QEMU", Cmdline(BuildQemuArgv("qemu-system-x86_64", spec)), "/run/kumo/web-1/qmp.sock"},
      {"empty", "", ""},
      {"a shell", Cmdline({"/bin/bash", "-l"}), ""},
      {"the path as a plain argument", Cmdline({"cat", "/run/kumo/web-1/qmp.sock"}), ""},
      {"the agent socket, not QMP",
       Cmdline({"qemu", "-chardev", "socket,id=agent,path=/run/a/qmp.sock,server=on"}), ""},
      {"path last, no trailing option",
       Cmdline({"qemu", "-chardev", "socket,id=qmp,path=/x/q.sock"}), "/x/q.sock"},
      {"a NUL-free blob", "socket,id=qmp,path=/x/q.sock", "/x/q.sock"},
  };
  for (const Case& c : cases) EXPECT_EQ(QmpSocketOfCmdline(c.cmdline), c.expected) << c.what;
}

// A real process whose command line names a machine's QMP socket is found in
// /proc, the test's own process and other run dirs are not.
TEST(FindQemus, FindsARealProcessByItsCommandLine) {
  testing::TempDir dir;
  MachinePaths web{(dir.path() / "web").string()};
  MachinePaths db{(dir.path() / "db").string()};
  testing::ChildProcess fake_qemu;
  std::string err;
  ASSERT_TRUE(fake_qemu.Start({"/bin/sh", "-c", "sleep 30; true",
                               "socket,id=qmp,path=" + web.qmp_socket() + ",server=on,wait=off"},
                              "", &err))
      << err;
  std::map<std::string, std::vector<int64_t>> found;
  for (int i = 0; i < 100 && found.empty(); ++i) {  // until the exec has happened
    found = FindQemus({web, db});
    if (found.empty()) std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[web.run_dir], std::vector<int64_t>{fake_qemu.pid()});
  fake_qemu.Stop();
  EXPECT_TRUE(FindQemus({web, db}).empty());
}

}  // namespace
}  // namespace kumo::hypervisor
