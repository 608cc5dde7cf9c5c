#include "agent/system_info.h"

#include <gtest/gtest.h>

namespace kumo::agent {
namespace {

TEST(ParseOsRelease, MapsFieldsToQgaNames) {
  json info = ParseOsRelease(
      "# comment\nPRETTY_NAME=\"kumo guest 1\"\nNAME='kumo'\nID=kumo\nVERSION_ID=\"1\"\n"
      "HOME_URL=\"x\"\nVERSION=\"1 (\\\"cloud\\\")\"\nbroken line\n");
  EXPECT_EQ(info["pretty-name"], "kumo guest 1");
  EXPECT_EQ(info["name"], "kumo");
  EXPECT_EQ(info["id"], "kumo");
  EXPECT_EQ(info["version-id"], "1");
  EXPECT_EQ(info["version"], "1 (\"cloud\")");
  EXPECT_FALSE(info.contains("HOME_URL"));
  EXPECT_EQ(info.size(), 5u);
}

TEST(NetworkInterfaces, ListsLoopbackWithItsAddress) {
  json ifaces = NetworkInterfaces();
  bool found = false;
  for (const auto& i : ifaces) {
    if (i["name"] != "lo") continue;
    for (const auto& a : i["ip-addresses"]) {
      if (a["ip-address"] == "127.0.0.1") {
        found = true;
        EXPECT_EQ(a["prefix"], 8);
        EXPECT_EQ(a["ip-address-type"], "ipv4");
      }
    }
  }
  EXPECT_TRUE(found) << ifaces.dump();
}

}  // namespace
}  // namespace kumo::agent
