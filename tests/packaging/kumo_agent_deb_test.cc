// The kumo-agent Debian package (packaging/): its control fields, its files,
// an agent that runs without any library from the image (static), and a
// systemd unit that starts it on the guest agent port in place of
// qemu-guest-agent. systemd-analyze verify needs a booted systemd's units,
// which this test host lacks, so the unit is parsed and checked here; the
// stock-image e2e test runs it under a real systemd.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <iterator>
#include <map>
#include <set>
#include <sstream>

#include "support/child_process.h"

namespace kumo {
namespace {

using testing::ChildProcess;
using testing::TempDir;

// Runs argv to completion; returns its stdout and stderr, and its exit code.
std::string RunProgram(const std::vector<std::string>& argv, int* exit_code = nullptr) {
  TempDir dir;
  ChildProcess p;
  std::string err;
  EXPECT_TRUE(p.Start(argv, dir / "out", &err)) << err;
  int status = p.WaitExit(std::chrono::seconds(60));
  if (exit_code) *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return testing::ReadFile(dir / "out");
}

std::map<std::string, std::string> ControlFields() {
  std::map<std::string, std::string> fields;
  std::istringstream in(RunProgram({"/usr/bin/dpkg-deb", "-f", KUMO_AGENT_DEB}));
  std::string line;
  while (std::getline(in, line)) {
    size_t colon = line.find(": ");
    if (!line.empty() && line[0] != ' ' && colon != std::string::npos) {
      fields[line.substr(0, colon)] = line.substr(colon + 2);
    }
  }
  return fields;
}

class KumoAgentDeb : public ::testing::Test {
 protected:
  void SetUp() override {
    int code = 0;
    RunProgram({"/usr/bin/dpkg-deb", "-x", KUMO_AGENT_DEB, root_.path().string()}, &code);
    ASSERT_EQ(code, 0);
  }
  std::string File(const std::string& path) { return testing::ReadFile(root_ / path); }
  TempDir root_;
};

TEST_F(KumoAgentDeb, ControlFieldsNameTheAgentItsVersionAndNoDependencies) {
  auto f = ControlFields();
  EXPECT_EQ(f["Package"], "kumo-agent");
  EXPECT_EQ(f["Architecture"], "amd64");
  EXPECT_EQ(f.count("Depends"), 0u) << "the agent is static: " << f["Depends"];
  EXPECT_FALSE(f["Maintainer"].empty());
  EXPECT_FALSE(f["Description"].empty());
  // The version is the one the packaged agent reports.
  std::string version = RunProgram({root_ / "usr/sbin/kumo-agent", "--version"});
  EXPECT_EQ(version, "kumo-agent " + f["Version"] + "\n");
}

TEST_F(KumoAgentDeb, HoldsTheAgentItsUnitAndUdevRuleOnly) {
  std::istringstream in(RunProgram({"/usr/bin/dpkg-deb", "-c", KUMO_AGENT_DEB}));
  std::map<std::string, std::string> files;  // path -> mode
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string mode, owner, size, date, time, path;
    fields >> mode >> owner >> size >> date >> time >> path;
    if (mode[0] != 'd') files[path] = mode;
  }
  EXPECT_EQ(files, (std::map<std::string, std::string>{
                       {"./usr/sbin/kumo-agent", "-rwxr-xr-x"},
                       {"./usr/lib/systemd/system/kumo-agent.service", "-rw-r--r--"},
                       {"./usr/lib/udev/rules.d/60-kumo-agent.rules", "-rw-r--r--"}}));
}

TEST_F(KumoAgentDeb, AgentNeedsNoLibrariesFromTheImage) {
  int code = 0;
  std::string out = RunProgram({"/usr/bin/ldd", root_ / "usr/sbin/kumo-agent"}, &code);
  EXPECT_NE(out.find("not a dynamic executable"), std::string::npos) << out;
}

// Section -> key -> values, for a systemd unit file; fails on lines that are
// neither comments, section headers nor key=value.
std::map<std::string, std::multimap<std::string, std::string>> ParseUnit(const std::string& text) {
  std::map<std::string, std::multimap<std::string, std::string>> unit;
  std::istringstream in(text);
  std::string line, section;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      section = line.substr(1, line.size() - 2);
      unit[section];
      continue;
    }
    size_t eq = line.find('=');
    EXPECT_NE(eq, std::string::npos) << "not key=value: " << line;
    EXPECT_FALSE(section.empty()) << "key outside a section: " << line;
    if (eq != std::string::npos) unit[section].emplace(line.substr(0, eq), line.substr(eq + 1));
  }
  return unit;
}

TEST_F(KumoAgentDeb, UnitStartsTheAgentOnTheGuestAgentPortInPlaceOfQemuGa) {
  auto unit = ParseUnit(File("usr/lib/systemd/system/kumo-agent.service"));
  const std::string port = "dev-virtio\\x2dports-org.qemu.guest_agent.0.device";
  const std::map<std::string, std::set<std::string>> known = {
      {"Unit", {"Description", "Documentation", "BindsTo", "After", "Conflicts"}},
      {"Service", {"ExecStart", "Restart", "RestartSec", "OOMScoreAdjust"}},
      {"Install", {"WantedBy"}}};
  ASSERT_EQ(unit.size(), known.size());
  for (const auto& [section, keys] : unit) {
    ASSERT_TRUE(known.count(section)) << section;
    for (const auto& [key, value] : keys) EXPECT_TRUE(known.at(section).count(key)) << key;
  }
  auto one = [&](const std::string& section, const std::string& key) {
    EXPECT_EQ(unit[section].count(key), 1u) << key;
    auto it = unit[section].find(key);
    return it == unit[section].end() ? std::string() : it->second;
  };
  EXPECT_EQ(one("Unit", "BindsTo"), port);
  EXPECT_EQ(one("Unit", "After"), port);
  EXPECT_EQ(one("Unit", "Conflicts"), "qemu-guest-agent.service");
  EXPECT_EQ(one("Service", "Restart"), "always");
  EXPECT_EQ(one("Service", "OOMScoreAdjust"), "-1000");
  EXPECT_EQ(one("Install", "WantedBy"), port);

  // ExecStart runs the packaged binary with options it accepts.
  std::istringstream exec(one("Service", "ExecStart"));
  std::vector<std::string> argv{std::istream_iterator<std::string>(exec), {}};
  ASSERT_FALSE(argv.empty());
  EXPECT_EQ(argv[0], "/usr/sbin/kumo-agent");
  argv[0] = root_ / "usr/sbin/kumo-agent";
  argv.push_back("--version");
  int code = -1;
  std::string out = RunProgram(argv, &code);
  EXPECT_EQ(code, 0) << out;
}

TEST_F(KumoAgentDeb, UdevRuleGivesThePortASystemdDevice) {
  std::string rule = File("usr/lib/udev/rules.d/60-kumo-agent.rules");
  EXPECT_NE(rule.find(R"(SUBSYSTEM=="virtio-ports", ATTR{name}=="org.qemu.guest_agent.0", )"
                      R"(TAG+="systemd")"),
            std::string::npos)
      << rule;
}

}  // namespace
}  // namespace kumo
