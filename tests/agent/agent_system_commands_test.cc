// Protocol tests for the commands of qemu-ga 7.2 that describe or change the
// system (time zone, users, vCPUs, files, filesystems, disks), run against
// kumo-agent --listen and Debian's qemu-ga on the host with the same requests.
// Nothing here freezes, trims or sets the clock of the host: those commands
// are disabled on a host socket (kumo-agent) or blocked (qemu-ga's -b), and
// tests/e2e/guest_agent_test.cc runs them in a real guest.
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>

#include "agent/agent_under_test.h"
#include "common/base64.h"

namespace kumo {
namespace {

// The host's root is a real filesystem only when it sits on a block device
// (not in a container on overlayfs, device major 0).
inline bool RootIsOnABlockDevice() {
  struct stat st {};
  return stat("/", &st) == 0 && major(st.st_dev) != 0;
}

class AgentSystemCommands : public ::testing::TestWithParam<Agent> {
 protected:
  void Start() {
    agent_ = std::make_unique<AgentUnderTest>(GetParam());
    ASSERT_TRUE(agent_->client().Sync(Clock::now() + 10s));
  }
  void SetUp() override { Start(); }
  QgaReply Call(const std::string& cmd, const json& args = json()) {
    return agent_->client().Call(cmd, args, Clock::now() + 10s);
  }
  void ExpectError(const std::string& cmd, const json& args, const std::string& desc) {
    auto r = Call(cmd, args);
    EXPECT_FALSE(r.ok) << cmd << " " << args.dump();
    EXPECT_EQ(r.error_class, "GenericError") << cmd << " " << args.dump();
    EXPECT_EQ(r.error_desc, desc) << cmd << " " << args.dump();
  }
  std::unique_ptr<AgentUnderTest> agent_;
};

TEST_P(AgentSystemCommands, InfoListsTheNewCommands) {
  auto r = Call("guest-info");
  ASSERT_TRUE(r.ok) << r.error_desc;
  std::set<std::string> names;
  for (const auto& c : r.value["supported_commands"]) names.insert(c["name"].get<std::string>());
  for (const char* name :
       {"guest-get-timezone", "guest-get-users", "guest-get-vcpus", "guest-set-time",
        "guest-file-open", "guest-file-read", "guest-file-write", "guest-file-seek",
        "guest-file-flush", "guest-file-close", "guest-fsfreeze-status", "guest-fsfreeze-freeze",
        "guest-fsfreeze-freeze-list", "guest-fsfreeze-thaw", "guest-fstrim", "guest-get-fsinfo",
        "guest-get-disks", "guest-get-cpustats", "guest-get-diskstats"}) {
    EXPECT_TRUE(names.count(name)) << name;
  }
}

TEST_P(AgentSystemCommands, TimezoneIsTheAbbreviationAndOffsetInEffect) {
  auto utc = Call("guest-get-timezone");
  ASSERT_TRUE(utc.ok) << utc.error_desc;
  EXPECT_TRUE(utc.value["offset"].is_number_integer()) << utc.value.dump();
  // The agent reads TZ like any program; Japan has had no daylight saving since 1951.
  setenv("TZ", "Asia/Tokyo", 1);
  Start();
  unsetenv("TZ");
  auto tokyo = Call("guest-get-timezone");
  ASSERT_TRUE(tokyo.ok) << tokyo.error_desc;
  EXPECT_EQ(tokyo.value, json({{"zone", "JST"}, {"offset", 32400}}));
}

TEST_P(AgentSystemCommands, UsersAreNamesWithLoginTimes) {
  auto r = Call("guest-get-users");
  ASSERT_TRUE(r.ok) << r.error_desc;
  ASSERT_TRUE(r.value.is_array());
  for (const auto& u : r.value) {
    EXPECT_TRUE(u["user"].is_string()) << u.dump();
    EXPECT_TRUE(u["login-time"].is_number()) << u.dump();
  }
}

TEST_P(AgentSystemCommands, VcpusListEveryCpuOfThisMachine) {
  auto r = Call("guest-get-vcpus");
  ASSERT_TRUE(r.ok) << r.error_desc;
  std::set<int64_t> ids;
  for (const auto& c : r.value) {
    ids.insert(c["logical-id"].get<int64_t>());
    EXPECT_TRUE(c["online"].get<bool>()) << c.dump();
    EXPECT_TRUE(c["can-offline"].is_boolean()) << c.dump();
  }
  EXPECT_EQ(ids.size(), size_t(sysconf(_SC_NPROCESSORS_CONF)));
  EXPECT_EQ(*ids.begin(), 0);
}

TEST_P(AgentSystemCommands, FileWriteThenReadRoundTrips) {
  std::string path = agent_->dir() / "file.txt";
  auto w = Call("guest-file-open", {{"path", path}, {"mode", "w"}});
  ASSERT_TRUE(w.ok) << w.error_desc;
  ASSERT_TRUE(w.value.is_number_integer());
  int64_t h = w.value.get<int64_t>();
  auto wrote = Call("guest-file-write", {{"handle", h}, {"buf-b64", Base64Encode("hello")}});
  EXPECT_EQ(wrote.value, json({{"count", 5}, {"eof", false}}));
  EXPECT_EQ(Call("guest-file-flush", {{"handle", h}}).value, json::object());
  EXPECT_EQ(Call("guest-file-close", {{"handle", h}}).value, json::object());
  std::ifstream in(path);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "hello");

  auto r = Call("guest-file-open", {{"path", path}});
  ASSERT_TRUE(r.ok) << r.error_desc;
  h = r.value.get<int64_t>();
  EXPECT_EQ(Call("guest-file-read", {{"handle", h}, {"count", 3}}).value,
            json({{"count", 3}, {"buf-b64", Base64Encode("hel")}, {"eof", false}}));
  EXPECT_EQ(Call("guest-file-read", {{"handle", h}}).value,
            json({{"count", 2}, {"buf-b64", Base64Encode("lo")}, {"eof", true}}));
  EXPECT_EQ(Call("guest-file-seek", {{"handle", h}, {"offset", 1}, {"whence", "set"}}).value,
            json({{"position", 1}, {"eof", false}}));
  EXPECT_EQ(Call("guest-file-seek", {{"handle", h}, {"offset", -1}, {"whence", 2}}).value,
            json({{"position", 4}, {"eof", false}}));
  EXPECT_EQ(Call("guest-file-read", {{"handle", h}, {"count", 0}}).value,
            json({{"count", 0}, {"buf-b64", ""}, {"eof", false}}));
  EXPECT_TRUE(Call("guest-file-close", {{"handle", h}}).ok);
}

TEST_P(AgentSystemCommands, FileErrorsMatchQemuGa) {
  std::string path = agent_->dir() / "file.txt";
  ExpectError("guest-file-open", {{"path", path}, {"mode", "x"}}, "invalid file open mode 'x'");
  ExpectError("guest-file-open", {{"path", "/nonexistent/f"}},
              "failed to open file '/nonexistent/f' (mode: 'r'): No such file or directory");
  ExpectError("guest-file-read", {{"handle", 999}}, "handle '999' has not been found");
  ExpectError("guest-file-close", {{"handle", 999}}, "handle '999' has not been found");
  ExpectError("guest-file-open", {{"mode", "r"}}, "Parameter 'path' is missing");
  auto w = Call("guest-file-open", {{"path", path}, {"mode", "w"}});
  ASSERT_TRUE(w.ok) << w.error_desc;
  int64_t h = w.value.get<int64_t>();
  ExpectError("guest-file-write", {{"handle", h}, {"buf-b64", "aGVsbG8="}, {"count", 10}},
              "value '10' is invalid for argument count");
  ExpectError("guest-file-write", {{"handle", h}, {"buf-b64", "aGVsbG8="}, {"count", -1}},
              "value '-1' is invalid for argument count");
  ExpectError("guest-file-write", {{"handle", h}, {"buf-b64", "!!!"}},
              "Base64 data contains invalid characters");
  ExpectError("guest-file-read", {{"handle", h}, {"count", -1}},
              "value '-1' is invalid for argument count");
  ExpectError("guest-file-read", {{"handle", h}, {"count", 60000000}},
              "value '60000000' is invalid for argument count");
  ExpectError("guest-file-read", {{"handle", h}}, "failed to read file: Bad file descriptor");
  ExpectError("guest-file-seek", {{"handle", h}, {"offset", 0}, {"whence", "bad"}},
              "Parameter 'whence' does not accept value 'bad'");
  ExpectError("guest-file-read", {{"handle", "x"}},
              "Invalid parameter type for 'handle', expected: integer");
  EXPECT_TRUE(Call("guest-file-close", {{"handle", h}}).ok);
  ExpectError("guest-file-close", {{"handle", h}},
              "handle '" + std::to_string(h) + "' has not been found");
}

// On the host these must never run: both agents refuse them.
TEST_P(AgentSystemCommands, SystemChangingCommandsAreOffOnAHostSocket) {
  for (const char* cmd :
       {"guest-set-time", "guest-fsfreeze-freeze", "guest-fsfreeze-freeze-list"}) {
    auto r = Call(cmd);
    EXPECT_FALSE(r.ok) << cmd;
    EXPECT_EQ(r.error_class, "CommandNotFound") << cmd;
    EXPECT_NE(r.error_desc.find("has been disabled"), std::string::npos) << r.error_desc;
  }
}

TEST_P(AgentSystemCommands, FsfreezeStatusAndThawWhenNothingIsFrozen) {
  EXPECT_EQ(Call("guest-fsfreeze-status").value, "thawed");
  auto thaw = Call("guest-fsfreeze-thaw");
  ASSERT_TRUE(thaw.ok) << thaw.error_desc;
  EXPECT_EQ(thaw.value, 0);
  EXPECT_EQ(Call("guest-fsfreeze-status").value, "thawed");
}

// A minimum larger than any filesystem: the kernel refuses it before
// trimming anything, so this is safe on the host.
TEST_P(AgentSystemCommands, FstrimReportsErrorsPerPath) {
  if (!RootIsOnABlockDevice()) GTEST_SKIP() << "/ is not on a block device here";
  auto r = Call("guest-fstrim", {{"minimum", -1}});
  ASSERT_TRUE(r.ok) << r.error_desc;
  bool root = false;
  for (const auto& p : r.value["paths"]) {
    root = root || p["path"] == "/";
    // EINVAL for the minimum, or no discard support on this disk at all.
    EXPECT_TRUE(p["error"] == "failed to trim: Invalid argument" ||
                p["error"] == "trim not supported")
        << p.dump();
  }
  EXPECT_TRUE(root) << r.value.dump();
  ExpectError("guest-fstrim", {{"minimum", "x"}},
              "Invalid parameter type for 'minimum', expected: integer");
}

TEST_P(AgentSystemCommands, FsinfoDescribesTheRootFilesystem) {
  if (!RootIsOnABlockDevice()) GTEST_SKIP() << "/ is not on a block device here";
  auto r = Call("guest-get-fsinfo");
  ASSERT_TRUE(r.ok) << r.error_desc;
  bool root = false;
  for (const auto& fs : r.value) {
    if (fs["mountpoint"] != "/") continue;
    root = true;
    EXPECT_TRUE(fs["name"].is_string());
    EXPECT_TRUE(fs["type"].is_string());
    EXPECT_GT(fs["total-bytes"].get<uint64_t>(), fs["used-bytes"].get<uint64_t>());
    EXPECT_TRUE(fs["disk"].is_array());
  }
  EXPECT_TRUE(root) << r.value.dump();
}

INSTANTIATE_TEST_SUITE_P(Agents, AgentSystemCommands,
                         ::testing::Values(Agent::kKumo, Agent::kQemuGa), AgentName);

// The answers that depend only on this machine must be the same from both.
TEST(AgentSystemCommandsCompared, SameAnswersAsQemuGa) {
  AgentUnderTest kumo(Agent::kKumo), qemu_ga(Agent::kQemuGa);
  auto call = [](AgentUnderTest& a, const std::string& cmd) {
    auto r = a.client().Call(cmd, json(), Clock::now() + 10s);
    EXPECT_TRUE(r.ok) << cmd << ": " << r.error_desc;
    return r.value;
  };
  // qemu-ga learns a disk's serial from udev's database, which a host
  // without udevd (this container) lacks; kumo-agent reads it from sysfs.
  auto without_serial = [](json& address) { address.erase("serial"); };
  auto disks = [&](AgentUnderTest& a) {
    json list = call(a, "guest-get-disks");
    for (auto& d : list) {
      if (d.contains("address")) without_serial(d["address"]);
    }
    return list;
  };
  auto fsinfo = [&](AgentUnderTest& a) {
    json list = call(a, "guest-get-fsinfo");
    for (auto& fs : list) {
      fs.erase("used-bytes");  // changes as the tests write
      fs.erase("total-bytes");
      for (auto& d : fs["disk"]) without_serial(d);
    }
    return list;
  };
  for (const char* cmd :
       {"guest-get-timezone", "guest-get-users", "guest-get-vcpus", "guest-fsfreeze-status"}) {
    EXPECT_EQ(call(kumo, cmd), call(qemu_ga, cmd)) << cmd;
  }
  EXPECT_EQ(disks(kumo), disks(qemu_ga));
  // Counters move between the two calls: compare what is listed and its keys.
  auto shape = [&](AgentUnderTest& a, const std::string& cmd, const char* id) {
    std::map<std::string, std::set<std::string>> out;
    for (const auto& entry : call(a, cmd)) {
      std::set<std::string> keys;
      const json& counters = entry.contains("stats") ? entry["stats"] : entry;
      for (const auto& [key, value] : counters.items()) {
        EXPECT_TRUE(value.is_number() || value.is_string()) << key;
        keys.insert(key);
      }
      out[entry[id].dump()] = keys;
    }
    return out;
  };
  EXPECT_EQ(shape(kumo, "guest-get-cpustats", "cpu"), shape(qemu_ga, "guest-get-cpustats", "cpu"));
  EXPECT_EQ(shape(kumo, "guest-get-diskstats", "name"),
            shape(qemu_ga, "guest-get-diskstats", "name"));
  EXPECT_EQ(fsinfo(kumo), fsinfo(qemu_ga));
}

}  // namespace
}  // namespace kumo
