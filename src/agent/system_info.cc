#include "agent/system_info.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/if_link.h>
#include <netpacket/packet.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <map>
#include <string>

namespace kumo::agent {
namespace {

std::string ReadFile(const char* path) {
  std::string out;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  ssize_t n;
  while (out.size() < 65536 && (n = read(fd, buf, sizeof buf)) > 0) out.append(buf, size_t(n));
  close(fd);
  return out;
}

std::string Unquote(std::string_view v) {
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
    v = v.substr(1, v.size() - 2);
  }
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\\' && i + 1 < v.size()) ++i;
    out += v[i];
  }
  return out;
}

int PrefixLength(const sockaddr* mask) {
  if (!mask) return 0;
  const unsigned char* bytes;
  size_t len;
  if (mask->sa_family == AF_INET) {
    bytes = reinterpret_cast<const unsigned char*>(
        &reinterpret_cast<const sockaddr_in*>(mask)->sin_addr);
    len = 4;
  } else {
    bytes = reinterpret_cast<const unsigned char*>(
        &reinterpret_cast<const sockaddr_in6*>(mask)->sin6_addr);
    len = 16;
  }
  int prefix = 0;
  for (size_t i = 0; i < len; ++i) prefix += __builtin_popcount(bytes[i]);
  return prefix;
}

std::string HardwareAddress(const sockaddr_ll* ll) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < ll->sll_halen && i < 8; ++i) {
    if (i) out += ':';
    out += kHex[ll->sll_addr[i] >> 4];
    out += kHex[ll->sll_addr[i] & 15];
  }
  return out;
}

}  // namespace

json ParseOsRelease(std::string_view text) {
  static const std::map<std::string, std::string> kFields = {{"ID", "id"},
                                                             {"NAME", "name"},
                                                             {"PRETTY_NAME", "pretty-name"},
                                                             {"VERSION", "version"},
                                                             {"VERSION_ID", "version-id"},
                                                             {"VARIANT", "variant"},
                                                             {"VARIANT_ID", "variant-id"}};
  json out = json::object();
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    size_t eq = line.find('=');
    if (line.empty() || line[0] == '#' || eq == std::string_view::npos) continue;
    auto field = kFields.find(std::string(line.substr(0, eq)));
    if (field != kFields.end()) out[field->second] = Unquote(line.substr(eq + 1));
  }
  return out;
}

json OsInfo() {
  std::string release = ReadFile("/etc/os-release");
  if (release.empty()) release = ReadFile("/usr/lib/os-release");
  json info = ParseOsRelease(release);
  struct utsname u {};
  if (uname(&u) == 0) {
    info["kernel-release"] = u.release;
    info["kernel-version"] = u.version;
    info["machine"] = u.machine;
  }
  return info;
}

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "";
  return name;
}

json NetworkInterfaces() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return json::array();
  std::map<std::string, json> by_name;
  std::vector<std::string> order;
  for (ifaddrs* a = list; a; a = a->ifa_next) {
    if (!by_name.count(a->ifa_name)) {
      order.push_back(a->ifa_name);
      by_name[a->ifa_name] = {{"name", a->ifa_name}, {"ip-addresses", json::array()}};
    }
    json& iface = by_name[a->ifa_name];
    if (!a->ifa_addr) continue;
    int family = a->ifa_addr->sa_family;
    if (family == AF_PACKET) {
      iface["hardware-address"] = HardwareAddress(reinterpret_cast<sockaddr_ll*>(a->ifa_addr));
      if (auto* s = static_cast<rtnl_link_stats*>(a->ifa_data)) {
        iface["statistics"] = {{"rx-bytes", s->rx_bytes}, {"rx-packets", s->rx_packets},
                               {"rx-errs", s->rx_errors}, {"rx-dropped", s->rx_dropped},
                               {"tx-bytes", s->tx_bytes}, {"tx-packets", s->tx_packets},
                               {"tx-errs", s->tx_errors}, {"tx-dropped", s->tx_dropped}};
      }
    } else if (family == AF_INET || family == AF_INET6) {
      char text[INET6_ADDRSTRLEN] = {};
      const void* addr =
          family == AF_INET
              ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr)
              : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(a->ifa_addr)->sin6_addr);
      inet_ntop(family, addr, text, sizeof text);
      iface["ip-addresses"].push_back({{"ip-address-type", family == AF_INET ? "ipv4" : "ipv6"},
                                       {"ip-address", text},
                                       {"prefix", PrefixLength(a->ifa_netmask)}});
    }
  }
  freeifaddrs(list);
  json out = json::array();
  for (const auto& name : order) out.push_back(std::move(by_name[name]));
  return out;
}

}  // namespace kumo::agent
