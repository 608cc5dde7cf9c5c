#include "cloudinit/cloud_config.h"

#include <gtest/gtest.h>

namespace kumo::cloudinit {
namespace {

std::string Passwords(const CloudConfig& c) {
  std::string out;
  for (const auto& p : c.passwords)
    out += p.user + (p.hashed ? "=hash:" : "=text:") + p.password + ";";
  return out;
}

std::string Joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + "|";
  return out;
}

TEST(ParseCloudConfig, EmptyDocumentIsEmptyConfig) {
  for (const char* text : {"#cloud-config\n", "#cloud-config", "#cloud-config\n# nothing\n"}) {
    auto c = ParseCloudConfig(text);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_FALSE(c->hostname);
    EXPECT_TRUE(c->passwords.empty() && c->runcmd.empty() && c->warnings.empty());
  }
}

struct PasswordCase {
  const char* name;
  const char* yaml;
  const char* passwords;  // Passwords() of the result
  const char* warnings;   // Joined() of the warnings, "" for none
};

class Passwords_ : public ::testing::TestWithParam<PasswordCase> {};

TEST_P(Passwords_, AreUnderstood) {
  const PasswordCase& t = GetParam();
  auto c = ParseCloudConfig(std::string("#cloud-config\n") + t.yaml);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(Passwords(*c), t.passwords);
  EXPECT_EQ(Joined(c->warnings), t.warnings);
}

INSTANTIATE_TEST_SUITE_P(
    Table, Passwords_,
    ::testing::Values(
        PasswordCase{"RootPlain", "password: s3cret\n", "root=text:s3cret;", ""},
        PasswordCase{"RootHash", "password: $6$salt$abcdef\n", "root=hash:$6$salt$abcdef;", ""},
        PasswordCase{"Number", "password: 12345\n", "root=text:12345;", ""},
        PasswordCase{"ChpasswdList",
                     "chpasswd:\n  expire: false\n  list:\n    - root:pw one\n    - "
                     "bob:$5$x$y\n",
                     "root=text:pw one;bob=hash:$5$x$y;", ""},
        PasswordCase{"ChpasswdListBlock", "chpasswd:\n  list: |\n    root:a:b\n\n    bob:c \n",
                     "root=text:a:b;bob=text:c;", ""},
        PasswordCase{"ChpasswdUsers",
                     "chpasswd:\n  users:\n    - {name: root, password: plain, type: text}\n"
                     "    - {name: bob, password: $6$s$h}\n",
                     "root=text:plain;bob=hash:$6$s$h;", ""},
        PasswordCase{"ChpasswdUsersHashByDefault",
                     "chpasswd:\n  users: [{name: bob, password: notahash}]\n",
                     "bob=hash:notahash;",
                     "chpasswd.users[0]: the password is not a crypt hash but type is hash "
                     "(cloud-init's default); add type: text for a plain-text password|"},
        PasswordCase{"Random",
                     "chpasswd:\n  list: [\"root:RANDOM\"]\n  users: [{name: bob, type: RANDOM}]\n",
                     "",
                     "chpasswd.list[0]: random passwords are not supported by the kumo image; "
                     "root's password is left unchanged|chpasswd.users[0]: random passwords are "
                     "not supported by the kumo image; bob's password is left unchanged|"},
        PasswordCase{"UserUnlocked",
                     "users:\n  - name: bob\n    plain_text_passwd: pw\n    lock_passwd: false\n",
                     "bob=text:pw;", ""},
        PasswordCase{"UserHashed",
                     "users:\n  - {name: root, hashed_passwd: $6$a$b, lock_passwd: no}\n",
                     "root=hash:$6$a$b;", ""},
        PasswordCase{"UserLockedByDefault", "users:\n  - {name: bob, plain_text_passwd: pw}\n", "",
                     "users[0] (bob): password not set because lock_passwd is true (cloud-init's "
                     "default); add lock_passwd: false|"},
        PasswordCase{"UserPasswordKeyIsNotCloudInit", "users:\n  - {name: bob, password: pw}\n", "",
                     "users[0] (bob).password: not a cloud-init key; use plain_text_passwd or "
                     "hashed_passwd|"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ParseCloudConfig, FullExample) {
  auto c = ParseCloudConfig(R"yaml(#cloud-config
hostname: web-1
ssh_authorized_keys:
  - ssh-ed25519 AAAAC3Nza me@laptop
users:
  - default
  - name: root
    ssh_authorized_keys: ["ssh-rsa AAAAB3 root-key"]
  - name: deploy
    sudo: ALL=(ALL) NOPASSWD:ALL
    ssh_authorized_keys: ["ssh-ed25519 AAAA deploy"]
  - alice
runcmd:
  - echo "hello $(hostname)" > /root/hello
  - [touch, "/tmp/a b", ""]
  - 'exit 3'
packages: [nginx]
write_files: []
)yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->hostname, "web-1");
  EXPECT_EQ(Joined(c->ssh_authorized_keys),
            "ssh-ed25519 AAAAC3Nza me@laptop|ssh-rsa AAAAB3 root-key|");
  ASSERT_EQ(c->users.size(), 2u);
  EXPECT_EQ(c->users[0].name, "deploy");
  EXPECT_EQ(Joined(c->users[0].ssh_authorized_keys), "ssh-ed25519 AAAA deploy|");
  EXPECT_EQ(c->users[1].name, "alice");
  ASSERT_EQ(c->runcmd.size(), 3u);
  EXPECT_FALSE(c->runcmd[0].is_argv);
  EXPECT_EQ(c->runcmd[0].text, "echo \"hello $(hostname)\" > /root/hello");
  EXPECT_TRUE(c->runcmd[1].is_argv);
  EXPECT_EQ(c->runcmd[1].argv, (std::vector<std::string>{"touch", "/tmp/a b", ""}));
  EXPECT_EQ(c->runcmd[2].text, "exit 3");
  EXPECT_EQ(Joined(c->warnings),
            "users[2] (deploy).sudo: not applied by the kumo image|"
            "packages: not applied by the kumo image (a cloud-init image may apply it)|"
            "write_files: not applied by the kumo image (a cloud-init image may apply it)|");
}

TEST(ParseCloudConfig, HostnameFromFqdnAndPrecedence) {
  EXPECT_EQ(ParseCloudConfig("#cloud-config\nfqdn: db.example.com\n")->hostname, "db");
  EXPECT_EQ(ParseCloudConfig("#cloud-config\nhostname: a.example.com\n")->hostname, "a");
  EXPECT_EQ(ParseCloudConfig("#cloud-config\nhostname: h\nfqdn: f.example.com\n")->hostname, "h");
  EXPECT_EQ(ParseCloudConfig("#cloud-config\nfqdn: f.example.com\nhostname: h\n")->hostname, "h");
  EXPECT_FALSE(ParseCloudConfig("#cloud-config\nhostname:\n")->hostname);
}

struct InvalidCase {
  const char* name;
  const char* yaml;     // after the "#cloud-config" line
  const char* message;  // the whole message
};

class Invalid : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(Invalid, IsRejectedWithPosition) {
  const InvalidCase& t = GetParam();
  auto c = ParseCloudConfig(std::string("#cloud-config\n") + t.yaml);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), codes::kInvalidArgument);
  EXPECT_EQ(c.status().message(), t.message);
}

INSTANTIATE_TEST_SUITE_P(
    Table, Invalid,
    ::testing::Values(
        InvalidCase{"BadYaml", "runcmd: [a, b\nhostname: x\n",
                    "user data (#cloud-config) is not valid YAML: line 3, column 9: end of "
                    "sequence flow not found"},
        InvalidCase{"BadIndent", "runcmd:\n  - a\n - b\n",
                    "user data (#cloud-config) is not valid YAML: line 4, column 2: end of map "
                    "not found"},
        InvalidCase{"NotAMapping", "- a\n",
                    "user data (#cloud-config): document at line 2, column 1: expected a mapping "
                    "of keys to values"},
        InvalidCase{"HostnameList", "hostname: [a]\n",
                    "user data (#cloud-config): hostname at line 2, column 11: expected a string"},
        InvalidCase{"HostnameInvalid", "hostname: my_host\n",
                    "user data (#cloud-config): hostname at line 2, column 11: 'my_host' is not "
                    "a valid host name (1-63 letters, digits and '-', not starting or ending with "
                    "'-')"},
        InvalidCase{"PasswordMap", "password: {a: b}\n",
                    "user data (#cloud-config): password at line 2, column 11: expected a string"},
        InvalidCase{"PasswordNewline", "password: \"a\\nb\"\n",
                    "user data (#cloud-config): password at line 2, column 11: a password must "
                    "not contain a line break"},
        InvalidCase{"ChpasswdNotMap", "chpasswd: [root:x]\n",
                    "user data (#cloud-config): chpasswd at line 2, column 11: expected a mapping "
                    "(list:, users:, expire:)"},
        InvalidCase{"ChpasswdNoColon", "chpasswd:\n  list:\n    - rootpw\n",
                    "user data (#cloud-config): chpasswd.list[0] at line 4, column 7: expected "
                    "user:password, got 'rootpw'"},
        InvalidCase{"ChpasswdBadUser", "chpasswd:\n  list: [\"Bad User:x\"]\n",
                    "user data (#cloud-config): chpasswd.list[0] at line 3, column 10: 'Bad User' "
                    "is not a user name the kumo image accepts ([a-z_][a-z0-9_-]*)"},
        InvalidCase{"ChpasswdExpireNotBool", "chpasswd:\n  expire: maybe\n",
                    "user data (#cloud-config): chpasswd.expire at line 3, column 11: expected "
                    "true or false"},
        InvalidCase{"ChpasswdUsersType", "chpasswd:\n  users: [{name: a, password: b, type: x}]\n",
                    "user data (#cloud-config): chpasswd.users[0].type at line 3, column 40: "
                    "expected hash, text or RANDOM, got 'x'"},
        InvalidCase{"KeysNotList", "ssh_authorized_keys: ssh-rsa AAA\n",
                    "user data (#cloud-config): ssh_authorized_keys at line 2, column 22: "
                    "expected a list"},
        InvalidCase{"KeyMultiline", "ssh_authorized_keys:\n  - \"ssh-rsa A\\nssh-rsa B\"\n",
                    "user data (#cloud-config): ssh_authorized_keys[0] at line 3, column 5: an "
                    "SSH public key must be a single line"},
        InvalidCase{"UserWithoutName", "users:\n  - {plain_text_passwd: x}\n",
                    "user data (#cloud-config): users[0] at line 3, column 5: 'name' is missing"},
        InvalidCase{"UserBadName", "users: [\"x:y\"]\n",
                    "user data (#cloud-config): users[0] at line 2, column 9: 'x:y' is not a user "
                    "name the kumo image accepts ([a-z_][a-z0-9_-]*, at most 32)"},
        InvalidCase{"LockNotBool", "users:\n  - {name: bob, lock_passwd: [x]}\n",
                    "user data (#cloud-config): users[0].lock_passwd at line 3, column 30: "
                    "expected true or false"},
        InvalidCase{"RuncmdString", "runcmd: echo hi\n",
                    "user data (#cloud-config): runcmd at line 2, column 9: expected a list"},
        InvalidCase{"RuncmdMap", "runcmd:\n  - ok\n  - {a: b}\n",
                    "user data (#cloud-config): runcmd[1] at line 4, column 5: expected a string "
                    "(shell command) or a list of strings (program and arguments)"},
        InvalidCase{"RuncmdEmptyArgv", "runcmd:\n  - []\n",
                    "user data (#cloud-config): runcmd[0] at line 3, column 5: an empty list "
                    "names no program"},
        InvalidCase{"RuncmdNestedArg", "runcmd:\n  - [ls, [a]]\n",
                    "user data (#cloud-config): runcmd[0][1] at line 3, column 10: expected a "
                    "string"},
        InvalidCase{"RuncmdNull", "runcmd:\n  -\n",
                    "user data (#cloud-config): runcmd[0] at line 4, column 1: expected a string "
                    "(shell command) or a list of strings (program and arguments)"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ParseCloudConfig, RuncmdEntriesAreBounded) {
  std::string yaml = "#cloud-config\nruncmd:\n";
  for (int i = 0; i < 1000; ++i) yaml += "  - x\n";
  auto c = ParseCloudConfig(yaml);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "user data (#cloud-config): runcmd at line 3, column 3: has 1000 entries; the limit "
            "is 999");
}

TEST(Names, HostAndUser) {
  for (const char* ok : {"a", "web-1", "A1"}) EXPECT_TRUE(IsValidHostname(ok)) << ok;
  EXPECT_TRUE(IsValidHostname(std::string(63, 'x')));
  for (const char* bad : {"", "-a", "a-", "a_b", "a.b", "\xc3\xa9"}) {
    EXPECT_FALSE(IsValidHostname(bad)) << bad;
  }
  EXPECT_FALSE(IsValidHostname(std::string(64, 'x')));
  for (const char* ok : {"root", "_svc", "bob-2", "a_b"}) EXPECT_TRUE(IsValidUserName(ok)) << ok;
  for (const char* bad : {"", "Bob", "1bob", "a:b", "a b", "a\n"}) {
    EXPECT_FALSE(IsValidUserName(bad)) << bad;
  }
}

}  // namespace
}  // namespace kumo::cloudinit
