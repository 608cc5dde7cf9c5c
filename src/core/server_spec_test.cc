#include "core/server_spec.h"

#include <gtest/gtest.h>

namespace kumo::core {
namespace {

ServerSpec Valid() {
  ServerSpec s;
  s.name = "web-1";
  s.image = "kumo-guest";
  return s;
}

TEST(ValidateServerName, AcceptsHostNameLikeNames) {
  for (const std::string& name :
       {std::string("a"), std::string("web-1"), std::string("db01"), std::string(63, 'x')}) {
    EXPECT_TRUE(ValidateServerName(name).ok()) << name;
  }
}

TEST(ValidateServerName, RejectsOthersWithAClearMessage) {
  for (std::string name : {std::string(""), std::string(64, 'x'), std::string("1abc"),
                           std::string("Web"), std::string("a_b"), std::string("a b"),
                           std::string("a/../b"), std::string("ends-"), std::string("a;rm")}) {
    Status s = ValidateServerName(name);
    EXPECT_FALSE(s.ok()) << name;
    EXPECT_EQ(s.code(), codes::kInvalidArgument);
    EXPECT_NE(s.message().find("server name"), std::string::npos);
    EXPECT_FALSE(s.hint().empty());
  }
}

TEST(ValidateSpec, ChecksEveryField) {
  struct Case {
    void (*mutate)(ServerSpec&);
    const char* field;
  } cases[] = {
      {[](ServerSpec& s) { s.image = ""; }, "image"},
      {[](ServerSpec& s) { s.vcpus = 0; }, "vcpus"},
      {[](ServerSpec& s) { s.vcpus = 65; }, "vcpus"},
      {[](ServerSpec& s) { s.memory_mib = 63; }, "memory_mib"},
      {[](ServerSpec& s) { s.memory_mib = (1 << 20) + 1; }, "memory_mib"},
      {[](ServerSpec& s) { s.disk_gib = 0; }, "disk_gib"},
      {[](ServerSpec& s) { s.disk_gib = 5000; }, "disk_gib"},
      {[](ServerSpec& s) { s.ssh_key = "not a key"; }, "ssh_key"},
      {[](ServerSpec& s) { s.ssh_key = "ssh-ed25519 AAAA a\nssh-rsa BBBB b"; }, "ssh_key"},
      {[](ServerSpec& s) { s.ssh_key = "ssh-ed25519 " + std::string(17000, 'A'); }, "ssh_key"},
      {[](ServerSpec& s) { s.user_data = std::string(64 * 1024 + 1, 'x'); }, "user_data"},
      {[](ServerSpec& s) { s.user_data = std::string("a\0b", 3); }, "user_data"},
      {[](ServerSpec& s) { s.user_data = "#cloud-config\nhostname: [unclosed\n"; }, "user_data"},
      {[](ServerSpec& s) { s.user_data = "#cloud-config\nruncmd: 7\n"; }, "user_data"},
      {[](ServerSpec& s) { s.user_data = "#!\necho no interpreter\n"; }, "user_data"},
  };
  for (const auto& c : cases) {
    ServerSpec s = Valid();
    c.mutate(s);
    Status st = ValidateSpec(s);
    EXPECT_EQ(st.code(), codes::kInvalidArgument) << c.field;
    EXPECT_NE(st.message().find(c.field), std::string::npos) << st.message();
  }
}

TEST(ValidateSpec, AcceptsAFullSpec) {
  ServerSpec s = Valid();
  s.vcpus = 2;
  s.memory_mib = 512;
  s.disk_gib = 10;
  s.ssh_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH user@host\n";
  s.user_data = std::string(64 * 1024, 'x');
  EXPECT_TRUE(ValidateSpec(s).ok()) << ValidateSpec(s).message();
  s.user_data = "#cloud-config\nhostname: web\nruncmd:\n  - echo hi\n";
  EXPECT_TRUE(ValidateSpec(s).ok()) << ValidateSpec(s).message();
  s.user_data = "#!/bin/sh\necho hi\n";
  EXPECT_TRUE(ValidateSpec(s).ok()) << ValidateSpec(s).message();
}

}  // namespace
}  // namespace kumo::core
