#include "cloudinit/seed.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace kumo::cloudinit {
namespace {

namespace fs = std::filesystem;

constexpr char kKey[] = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 me@host";

std::map<std::string, std::string> FilesOf(const SeedInput& in) {
  auto files = SeedFiles(in);
  EXPECT_TRUE(files.ok()) << files.status().ToString();
  std::map<std::string, std::string> out;
  if (!files.ok()) return out;
  for (const auto& f : *files) {
    EXPECT_FALSE(out.count(f.path)) << "duplicate " << f.path;
    out[f.path] = f.content;
  }
  return out;
}

std::string Names(const std::map<std::string, std::string>& files) {
  std::string out;
  for (const auto& [path, _] : files) out += path + " ";
  return out;
}

TEST(SeedFiles, NoUserData) {
  auto f = FilesOf({"i-0001", "web", "", kKey + std::string("\n")});
  EXPECT_EQ(Names(f),
            "kumo/authorized_keys/root kumo/format kumo/hostname kumo/instance-id "
            "kumo/user-data-kind meta-data user-data ");
  EXPECT_EQ(f["user-data"], "");
  EXPECT_EQ(f["meta-data"],
            "instance-id: \"i-0001\"\nlocal-hostname: \"web\"\npublic-keys:\n  - \"" +
                std::string(kKey) + "\"\n");
  EXPECT_EQ(f["kumo/format"], "1\n");
  EXPECT_EQ(f["kumo/instance-id"], "i-0001\n");
  EXPECT_EQ(f["kumo/user-data-kind"], "none\n");
  EXPECT_EQ(f["kumo/hostname"], "web\n");
  EXPECT_EQ(f["kumo/authorized_keys/root"], std::string(kKey) + "\n");
}

TEST(SeedFiles, NoKeyNoPublicKeys) {
  auto f = FilesOf({"i-1", "web", "", ""});
  EXPECT_EQ(f["meta-data"], "instance-id: \"i-1\"\nlocal-hostname: \"web\"\n");
  EXPECT_FALSE(f.count("kumo/authorized_keys/root"));
}

TEST(SeedFiles, Script) {
  const std::string script = "#!/bin/sh\necho hi\nexit 3\n";
  auto f = FilesOf({"i-1", "web", script, ""});
  EXPECT_EQ(Names(f),
            "kumo/format kumo/hostname kumo/instance-id kumo/script kumo/user-data-kind "
            "meta-data user-data ");
  EXPECT_EQ(f["user-data"], script);
  EXPECT_EQ(f["kumo/script"], script);
  EXPECT_EQ(f["kumo/user-data-kind"], "script\n");
}

TEST(SeedFiles, EveryBootScript) {
  auto f = FilesOf({"i-1", "web", "#!/bin/sh\n# kumo: every-boot\ndate\n", ""});
  EXPECT_TRUE(f.count("kumo/script"));
  EXPECT_EQ(f["kumo/script-every-boot"], "");
}

TEST(SeedFiles, CloudConfig) {
  const std::string yaml = R"(#cloud-config
hostname: custom
password: rootpw
chpasswd:
  list:
    - bob:$6$s$hash
    - root:later
ssh_authorized_keys: ["ssh-rsa AAAAB3 extra", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 me@host"]
users:
  - name: bob
    ssh_authorized_keys: ["ssh-ed25519 BBBB bob"]
runcmd:
  - echo 'one; two' > /tmp/x
  - [printf, "%s\n", "a b", ""]
  - "exit 3"
)";
  auto f = FilesOf({"i-1", "web", yaml, kKey});
  EXPECT_EQ(Names(f),
            "kumo/authorized_keys/bob kumo/authorized_keys/root kumo/chpasswd "
            "kumo/chpasswd-crypted kumo/format kumo/hostname kumo/instance-id kumo/runcmd/001 "
            "kumo/runcmd/002.argv kumo/runcmd/003 kumo/user-data-kind kumo/users meta-data "
            "user-data ");
  EXPECT_EQ(f["user-data"], yaml);
  EXPECT_EQ(f["kumo/user-data-kind"], "cloud-config\n");
  EXPECT_EQ(f["kumo/hostname"], "custom\n");
  EXPECT_EQ(f["kumo/users"], "bob\n");
  EXPECT_EQ(f["kumo/chpasswd"], "root:later\n");  // the last password for root wins
  EXPECT_EQ(f["kumo/chpasswd-crypted"], "bob:$6$s$hash\n");
  EXPECT_EQ(f["kumo/authorized_keys/root"], std::string(kKey) + "\nssh-rsa AAAAB3 extra\n");
  EXPECT_EQ(f["kumo/authorized_keys/bob"], "ssh-ed25519 BBBB bob\n");
  EXPECT_EQ(f["kumo/runcmd/001"], "echo 'one; two' > /tmp/x");
  EXPECT_EQ(f["kumo/runcmd/002.argv"], std::string("printf\0%s\n\0a b\0\0", 16));
  EXPECT_EQ(f["kumo/runcmd/003"], "exit 3");
  // meta-data keeps the server's name; cloud-init applies hostname: itself.
  EXPECT_NE(f["meta-data"].find("local-hostname: \"web\""), std::string::npos);
}

TEST(SeedFiles, OpaqueUserDataIsPassedOn) {
  auto f = FilesOf({"i-1", "web", "#include\nhttp://x/\n", ""});
  EXPECT_EQ(f["user-data"], "#include\nhttp://x/\n");
  EXPECT_EQ(f["kumo/user-data-kind"], "opaque\n");
  EXPECT_FALSE(f.count("kumo/script"));
}

TEST(SeedFiles, MetaDataQuotesWhatYamlWouldMisread) {
  auto f = FilesOf({"i-1", "web", "", "ssh-rsa AAAA user: #1 \"quoted\""});
  EXPECT_NE(f["meta-data"].find(R"(  - "ssh-rsa AAAA user: #1 \"quoted\"")"), std::string::npos)
      << f["meta-data"];
}

TEST(SeedFiles, RejectsInvalidInput) {
  struct Case {
    SeedInput in;
    std::string message;
  };
  for (const auto& t : std::vector<Case>{
           {{"", "web", "", ""}, "instance id '' must be 1-64 letters"},
           {{"i/../x", "web", "", ""}, "instance id 'i/../x' must be"},
           {{"-i", "web", "", ""}, "instance id '-i' must be"},
           {{std::string(65, 'i'), "web", "", ""}, "must be 1-64"},
           {{"i-1", "we b", "", ""}, "host name 'we b' is not a valid host name"},
           {{"i-1", "web", "", "ssh-rsa A\nssh-rsa B"}, "ssh_key must be a single line"},
           {{"i-1", "web", "#cloud-config\nruncmd: 1\n", ""}, "runcmd at line 2"},
       }) {
    auto r = SeedFiles(t.in);
    ASSERT_FALSE(r.ok()) << t.message;
    EXPECT_EQ(r.status().code(), codes::kInvalidArgument);
    EXPECT_NE(r.status().message().find(t.message), std::string::npos) << r.status().message();
  }
}

std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int Mode(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

class WriteSeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kumo-seed-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
  }
  void TearDown() override { fs::remove_all(tmp_); }
  fs::path tmp_;
};

TEST_F(WriteSeedTest, WritesFilesPrivatelyAndReplacesAnOldSeed) {
  fs::path dir = tmp_ / "run" / "seed";
  ASSERT_TRUE(WriteSeed({"i-1", "web", "#cloud-config\nruncmd: [a, [b, c]]\n", kKey}, dir).ok());
  EXPECT_EQ(Mode(dir), 0700);
  EXPECT_EQ(Mode(dir / "kumo"), 0700);
  EXPECT_EQ(Mode(dir / "kumo/runcmd"), 0700);
  EXPECT_EQ(Mode(dir / "user-data"), 0600);
  EXPECT_EQ(Mode(dir / "kumo/runcmd/002.argv"), 0600);
  EXPECT_EQ(Read(dir / "kumo/runcmd/002.argv"), std::string("b\0c\0", 4));

  std::ofstream(dir / "unrelated") << "kept";
  ASSERT_TRUE(WriteSeed({"i-2", "web", "#!/bin/sh\ntrue\n", ""}, dir).ok());
  EXPECT_FALSE(fs::exists(dir / "kumo/runcmd"));
  EXPECT_FALSE(fs::exists(dir / "kumo/authorized_keys"));
  EXPECT_EQ(Read(dir / "kumo/instance-id"), "i-2\n");
  EXPECT_EQ(Read(dir / "kumo/script"), "#!/bin/sh\ntrue\n");
  EXPECT_EQ(Read(dir / "unrelated"), "kept");
}

TEST_F(WriteSeedTest, InvalidInputWritesNothing) {
  fs::path dir = tmp_ / "seed";
  Status s = WriteSeed({"i-1", "web", "#cloud-config\n: :\n  -", ""}, dir);
  EXPECT_EQ(s.code(), codes::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir));
}

TEST_F(WriteSeedTest, UnwritableDirectoryIsAnInternalError) {
  fs::path file = tmp_ / "file";
  std::ofstream(file) << "x";
  Status s = WriteSeed({"i-1", "web", "", ""}, (file / "seed").string());
  EXPECT_EQ(s.code(), codes::kInternal);
  EXPECT_NE(s.message().find("cannot create"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace kumo::cloudinit
