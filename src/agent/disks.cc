#include "agent/disks.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>

namespace kumo::agent {
namespace {

using json = nlohmann::json;

constexpr int kMaxDepth = 8;
constexpr size_t kMaxEntries = 256;

std::string RealPath(const std::string& path) {
  char buf[PATH_MAX];
  return realpath(path.c_str(), buf) ? std::string(buf) : std::string();
}

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string ReadSmall(const std::string& path) {
  char buf[512];
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return "";
  ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  std::string s(buf, n > 0 ? size_t(n) : 0);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

std::vector<std::string> ListDir(const std::string& path) {
  std::vector<std::string> out;
  if (DIR* dir = opendir(path.c_str())) {
    while (dirent* e = readdir(dir)) {
      if (e->d_name[0] != '.' && out.size() < kMaxEntries) out.push_back(e->d_name);
    }
    closedir(dir);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

bool IsHex(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

// Appends the addresses of the disks beneath the block device at `syspath`.
void AddDiskAddresses(const std::string& syspath, int depth, json& out) {
  if (depth > kMaxDepth || syspath.empty()) return;
  auto slaves = ListDir(syspath + "/slaves");
  if (!slaves.empty()) {
    for (const auto& s : slaves)
      AddDiskAddresses(RealPath(syspath + "/slaves/" + s), depth + 1, out);
    return;
  }
  std::string disk = syspath;
  if (Exists(syspath + "/partition")) disk = syspath.substr(0, syspath.rfind('/'));
  if (auto address = DiskAddress(disk)) out.push_back(std::move(*address));
}

}  // namespace

std::optional<json> PciAddress(std::string_view syspath) {
  std::optional<json> found;
  size_t start = 0;
  while (start < syspath.size()) {
    size_t end = syspath.find('/', start);
    if (end == std::string_view::npos) end = syspath.size();
    std::string_view c = syspath.substr(start, end - start);
    start = end + 1;
    // DDDD:BB:SS.F
    size_t c1 = c.find(':'), c2 = c.rfind(':'), dot = c.rfind('.');
    if (c1 == std::string_view::npos || c1 == c2 || dot == std::string_view::npos || dot < c2) {
      continue;
    }
    std::string_view domain = c.substr(0, c1), bus = c.substr(c1 + 1, c2 - c1 - 1),
                     slot = c.substr(c2 + 1, dot - c2 - 1), function = c.substr(dot + 1);
    if (!IsHex(domain) || domain.size() > 8 || !IsHex(bus) || bus.size() != 2 || !IsHex(slot) ||
        slot.size() != 2 || function.size() != 1 || function[0] < '0' || function[0] > '7') {
      continue;
    }
    auto hex = [](std::string_view s) { return std::stol(std::string(s), nullptr, 16); };
    found = json{{"domain", hex(domain)},
                 {"bus", hex(bus)},
                 {"slot", hex(slot)},
                 {"function", hex(function)}};
  }
  return found;
}

std::optional<json> DiskAddress(const std::string& disk_syspath) {
  auto pci = PciAddress(disk_syspath);
  if (!pci) return std::nullopt;
  bool virtio = disk_syspath.find("/virtio") != std::string::npos;
  std::string name = BaseName(disk_syspath);
  json address = {{"pci-controller", std::move(*pci)},
                  {"bus-type", virtio ? "virtio" : "unknown"},
                  {"bus", 0},
                  {"target", 0},
                  {"unit", 0},
                  {"dev", "/dev/" + name}};
  std::string serial = ReadSmall(disk_syspath + "/serial");
  if (!serial.empty()) address["serial"] = serial;
  return address;
}

json FilesystemInfo(const std::vector<Mount>& mounts) {
  json out = json::array();
  for (auto it = mounts.rbegin(); it != mounts.rend(); ++it) {
    std::string syspath =
        RealPath("/sys/dev/block/" + std::to_string(it->major) + ":" + std::to_string(it->minor));
    json fs = {{"name", syspath.empty() ? BaseName(it->source) : BaseName(syspath)},
               {"mountpoint", it->mountpoint},
               {"type", it->type},
               {"disk", json::array()}};
    struct statvfs st {};
    if (statvfs(it->mountpoint.c_str(), &st) == 0) {
      uint64_t used = uint64_t(st.f_blocks - st.f_bfree) * st.f_frsize;
      fs["used-bytes"] = used;
      fs["total-bytes"] = used + uint64_t(st.f_bavail) * st.f_frsize;
    }
    AddDiskAddresses(syspath, 0, fs["disk"]);
    out.push_back(std::move(fs));
  }
  return out;
}

json Disks() {
  json out = json::array();
  for (const auto& name : ListDir("/sys/block")) {
    std::string syspath = RealPath("/sys/block/" + name);
    if (syspath.empty() || ReadSmall(syspath + "/size") == "0") continue;
    std::string dev = "/dev/" + name;
    json disk = {{"name", dev}, {"partition", false}, {"dependencies", json::array()}};
    for (const auto& s : ListDir(syspath + "/slaves")) disk["dependencies"].push_back("/dev/" + s);
    std::string alias = ReadSmall(syspath + "/dm/name");
    if (!alias.empty()) disk["alias"] = alias;
    if (syspath.find("/devices/virtual/") == std::string::npos) {
      if (auto address = DiskAddress(syspath)) disk["address"] = std::move(*address);
    }
    out.push_back(std::move(disk));
    for (const auto& part : ListDir(syspath)) {
      if (!Exists(syspath + "/" + part + "/partition")) continue;
      out.push_back(
          {{"name", "/dev/" + part}, {"partition", true}, {"dependencies", json::array({dev})}});
    }
  }
  return out;
}

}  // namespace kumo::agent
