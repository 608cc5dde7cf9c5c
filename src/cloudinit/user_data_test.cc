#include "cloudinit/user_data.h"

#include <gtest/gtest.h>

namespace kumo::cloudinit {
namespace {

struct KindCase {
  const char* text;
  UserDataKind kind;
};

TEST(ClassifyUserData, ByFirstLine) {
  for (const auto& t : std::vector<KindCase>{
           {"", UserDataKind::kEmpty},
           {"#!/bin/sh\necho hi\n", UserDataKind::kScript},
           {"#!/usr/bin/env python3", UserDataKind::kScript},
           {"#cloud-config\nhostname: a\n", UserDataKind::kCloudConfig},
           {"#cloud-config", UserDataKind::kCloudConfig},
           {"#cloud-config  \r\nhostname: a\n", UserDataKind::kCloudConfig},
           {"#cloud-config-archive\n- type: x\n", UserDataKind::kOpaque},
           {"#include\nhttp://example.com/x\n", UserDataKind::kOpaque},
           {"Content-Type: multipart/mixed; boundary=x\n", UserDataKind::kOpaque},
           {" #!/bin/sh\n", UserDataKind::kOpaque},
           {"\x1f\x8b\x08", UserDataKind::kOpaque},
       }) {
    EXPECT_EQ(ClassifyUserData(t.text), t.kind) << t.text;
  }
}

TEST(RunsEveryBoot, MarkerIsAWholeLineAnywhere) {
  EXPECT_TRUE(RunsEveryBoot("#!/bin/sh\n# kumo: every-boot\necho x\n"));
  EXPECT_TRUE(RunsEveryBoot("#!/bin/sh\necho x\n  # kumo: every-boot  \r\n"));
  EXPECT_TRUE(RunsEveryBoot("#!/bin/sh\necho x\n\t# kumo: every-boot"));
  EXPECT_FALSE(RunsEveryBoot("#!/bin/sh\necho '# kumo: every-boot'\n"));
  EXPECT_FALSE(RunsEveryBoot("#!/bin/sh\n# kumo: every-boots\n"));
  EXPECT_FALSE(RunsEveryBoot("#!/bin/sh\n#kumo: every-boot\n"));
  EXPECT_FALSE(RunsEveryBoot("#!/bin/sh\n"));
}

TEST(CheckUserData, AcceptsEachKind) {
  auto empty = CheckUserData("");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->kind, UserDataKind::kEmpty);
  EXPECT_TRUE(empty->warnings.empty());

  auto script = CheckUserData("#!/bin/sh\n# kumo: every-boot\ndate\n");
  ASSERT_TRUE(script.ok());
  EXPECT_EQ(script->kind, UserDataKind::kScript);
  EXPECT_TRUE(script->every_boot);
  EXPECT_TRUE(script->warnings.empty());

  auto config = CheckUserData("#cloud-config\nhostname: a\npackages: [x]\n");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->kind, UserDataKind::kCloudConfig);
  EXPECT_EQ(config->warnings,
            std::vector<std::string>{
                "packages: not applied by the kumo image (a cloud-init image may apply it)"});

  auto opaque = CheckUserData("#include\nhttp://example.com/x\n");
  ASSERT_TRUE(opaque.ok());
  EXPECT_EQ(opaque->kind, UserDataKind::kOpaque);
  ASSERT_EQ(opaque->warnings.size(), 1u);
  EXPECT_NE(opaque->warnings[0].find("the kumo image ignores it"), std::string::npos);
}

TEST(CheckUserData, WarnsOnlyAboutWhatTheImageWillNotApply) {
  const auto kCloudInit = UserDataSupport::kCloudInit;
  const auto kNone = UserDataSupport::kNone;
  // cloud-init applies every key and understands #include and MIME.
  auto config = CheckUserData("#cloud-config\npackages: [x]\nwrite_files: []\n", kCloudInit);
  ASSERT_TRUE(config.ok());
  EXPECT_TRUE(config->warnings.empty());
  auto opaque = CheckUserData("#include\nhttp://example.com/x\n", kCloudInit);
  ASSERT_TRUE(opaque.ok());
  EXPECT_TRUE(opaque->warnings.empty());
  // kumo-init's every-boot line means nothing to cloud-init.
  auto every = CheckUserData("#!/bin/sh\n# kumo: every-boot\ndate\n", kCloudInit);
  ASSERT_TRUE(every.ok());
  ASSERT_EQ(every->warnings.size(), 1u);
  EXPECT_NE(every->warnings[0].find("cloud-init runs the script once per instance"),
            std::string::npos);
  // Invalid is invalid whatever applies it.
  EXPECT_FALSE(CheckUserData("#cloud-config\n: [\n", kCloudInit).ok());
  // An image that applies nothing says so for any user data, and only then.
  auto ignored = CheckUserData("#!/bin/sh\ndate\n", kNone);
  ASSERT_TRUE(ignored.ok());
  ASSERT_EQ(ignored->warnings.size(), 1u);
  EXPECT_NE(ignored->warnings[0].find("nothing in the guest runs it"), std::string::npos);
  EXPECT_TRUE(CheckUserData("", kNone)->warnings.empty());
}

TEST(UserDataSupport, NamesRoundTripAndUnknownIsRefused) {
  for (auto s : {UserDataSupport::kKumo, UserDataSupport::kCloudInit, UserDataSupport::kNone}) {
    EXPECT_EQ(ParseUserDataSupport(UserDataSupportName(s)), s);
  }
  EXPECT_EQ(ParseUserDataSupport("cloudinit"), std::nullopt);
  EXPECT_EQ(ParseUserDataSupport(""), std::nullopt);
}

TEST(CheckUserData, WarnsAboutWindowsLineEndings) {
  auto r = CheckUserData("#!/bin/sh\r\necho hi\r\n");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_NE(r->warnings[0].find("CRLF"), std::string::npos);
}

struct RejectCase {
  std::string text;
  std::string message;
};

TEST(ValidateUserData, Rejects) {
  for (const auto& t : std::vector<RejectCase>{
           {"#!\necho\n", "user data starts with '#!' but names no interpreter"},
           {"#!  \n", "user data starts with '#!' but names no interpreter"},
           {"#!/bin/sh\n" + std::string(kMaxUserDataBytes, 'x'),
            "user data is 65546 bytes; the limit is 64 KiB (65536 bytes)"},
           {"#cloud-config\nruncmd: [\n",
            "user data (#cloud-config) is not valid YAML: line 3, column 1: end of sequence "
            "flow not found"},
           {"#cloud-config\nruncmd: 5\n",
            "user data (#cloud-config): runcmd at line 2, column 9: expected a list"},
       }) {
    Status s = ValidateUserData(t.text);
    EXPECT_EQ(s.code(), codes::kInvalidArgument) << t.text;
    EXPECT_EQ(s.message(), t.message);
  }
  EXPECT_TRUE(ValidateUserData(std::string(kMaxUserDataBytes, '#')).ok());
}

}  // namespace
}  // namespace kumo::cloudinit
