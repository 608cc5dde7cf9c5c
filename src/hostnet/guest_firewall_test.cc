#include "hostnet/guest_firewall.h"

#include <gtest/gtest.h>

namespace kumo::hostnet {
namespace {

TEST(LoopbackNameservers, Table) {
  struct Case {
    const char* what;
    const char* resolv_conf;
    std::vector<std::string> expected;
  };
  const std::vector<Case> cases = {
      {"none", "", {}},
      {"a remote resolver only", "nameserver 10.255.255.53\n", {}},
      {"systemd-resolved", "nameserver 127.0.0.53\noptions edns0\n", {"127.0.0.53"}},
      {"IPv6 loopback", "nameserver ::1\n", {"::1"}},
      {"mixed, duplicates once",
       "# comment\nnameserver 127.0.0.1\nnameserver 1.1.1.1\nnameserver 127.0.0.1\n",
       {"127.0.0.1"}},
      {"canonical form", "nameserver 0:0:0:0:0:0:0:1\n", {"::1"}},
      {"not an address", "nameserver 127.0.0.1;reject\nnameserver localhost\n", {}},
      {"injection attempt",
       "nameserver 127.0.0.1 }\nnameserver ::1\n} accept\n",
       {"127.0.0.1", "::1"}},
      {"other keys", "search 127.0.0.1\ndomain x\n", {}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(LoopbackNameservers(c.resolv_conf), c.expected) << c.what;
  }
}

TEST(BuildGuestFirewall, RejectsNewConnectionsOfTheQemuUserToTheHost) {
  std::string script = BuildGuestFirewall(999, {});
  // Created if absent, then replaced in the same transaction.
  EXPECT_EQ(script.find("table inet kumo_guests\ndelete table inet kumo_guests\n"), 0u) << script;
  EXPECT_NE(script.find("type filter hook output priority filter; policy accept;"),
            std::string::npos);
  EXPECT_NE(script.find("meta skuid 999 ct state new fib daddr type local jump guest_to_host"),
            std::string::npos)
      << script;
  EXPECT_NE(script.find("meta skuid 999 ct state new ip daddr 169.254.0.0/16 jump guest_to_host"),
            std::string::npos);
  EXPECT_NE(script.find("meta skuid 999 ct state new ip6 daddr fe80::/10 jump guest_to_host"),
            std::string::npos);
  EXPECT_NE(script.find("meta l4proto tcp reject with tcp reset"), std::string::npos);
  EXPECT_NE(script.find("reject with icmpx admin-prohibited"), std::string::npos);
  EXPECT_EQ(script.find("dport 53"), std::string::npos)
      << "no DNS exception without a loopback resolver";
}

TEST(BuildGuestFirewall, OpensPort53ToLoopbackResolversOnly) {
  std::string script = BuildGuestFirewall(123, {"127.0.0.53", "::1"});
  for (const char* rule :
       {"ip daddr 127.0.0.53 udp dport 53 accept", "ip daddr 127.0.0.53 tcp dport 53 accept",
        "ip6 daddr ::1 udp dport 53 accept", "ip6 daddr ::1 tcp dport 53 accept"}) {
    EXPECT_NE(script.find(rule), std::string::npos) << rule << "\n" << script;
  }
  // The exceptions come before the rejects.
  EXPECT_LT(script.find("dport 53 accept"), script.find("reject"));
  EXPECT_NE(script.find("meta skuid 123 "), std::string::npos);
}

}  // namespace
}  // namespace kumo::hostnet
