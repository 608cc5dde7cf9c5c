#include "agent/mounts.h"

#include <cstdlib>

#include "agent/proc_lines.h"

namespace kumo::agent {
namespace {

bool IsOctal(char c) { return c >= '0' && c <= '7'; }

std::string Unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && IsOctal(s[i + 1]) && IsOctal(s[i + 2]) &&
        IsOctal(s[i + 3])) {
      out += char((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::string_view> Fields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size() && out.size() < 64) {
    while (i < line.size() && line[i] == ' ') ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

}  // namespace

std::optional<Mount> ParseMountInfoLine(std::string_view line) {
  auto f = Fields(line);
  // id parent major:minor root mountpoint options [optional...] - type source superopts
  size_t dash = 6;
  while (dash < f.size() && f[dash] != "-") ++dash;
  if (dash + 1 >= f.size()) return std::nullopt;  // no "-" or no type after it
  std::string_view dev = f[2];
  size_t colon = dev.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  Mount m;
  char* end = nullptr;
  std::string major(dev.substr(0, colon)), minor(dev.substr(colon + 1));
  m.major = unsigned(std::strtoul(major.c_str(), &end, 10));
  if (major.empty() || *end) return std::nullopt;
  m.minor = unsigned(std::strtoul(minor.c_str(), &end, 10));
  if (minor.empty() || *end) return std::nullopt;
  m.mountpoint = Unescape(f[4]);
  m.type = std::string(f[dash + 1]);
  if (dash + 2 < f.size()) m.source = Unescape(f[dash + 2]);
  return m;
}

bool IsRealFilesystem(const Mount& mount) {
  return mount.major != 0 && mount.type != "smbfs" && mount.type != "cifs";
}

std::vector<Mount> RealMounts(const char* path) {
  std::vector<Mount> out;
  ForEachLine(path, 1 << 20, [&out](std::string_view line) {
    auto m = ParseMountInfoLine(line);
    if (m && IsRealFilesystem(*m)) out.push_back(std::move(*m));
    return out.size() < kMaxMounts;
  });
  return out;
}

}  // namespace kumo::agent
