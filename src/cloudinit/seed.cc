#include "cloudinit/seed.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>

#include "cloudinit/cloud_config.h"
#include "cloudinit/user_data.h"

namespace kumo::cloudinit {
namespace {

namespace fs = std::filesystem;

Status Invalid(std::string message) { return Status(codes::kInvalidArgument, std::move(message)); }

std::string MetaData(const SeedInput& in, const std::string& key) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "instance-id" << YAML::Value << YAML::DoubleQuoted << in.instance_id;
  out << YAML::Key << "local-hostname" << YAML::Value << YAML::DoubleQuoted << in.hostname;
  if (!key.empty()) {
    out << YAML::Key << "public-keys" << YAML::Value << YAML::BeginSeq << YAML::DoubleQuoted << key
        << YAML::EndSeq;
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::string RuncmdName(size_t index) {
  char name[8];
  std::snprintf(name, sizeof name, "%03zu", index + 1);
  return name;
}

// Adds `key` to `keys` unless it is there already.
void AddKey(std::vector<std::string>* keys, const std::string& key) {
  for (const auto& k : *keys) {
    if (k == key) return;
  }
  keys->push_back(key);
}

std::string Lines(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  return text;
}

void AddCloudConfigFiles(const CloudConfig& config, std::vector<std::string>* root_keys,
                         std::vector<SeedFile>* files) {
  // The last password given for a user wins, whichever file it lands in.
  std::map<std::string, const PasswordChange*> last;
  for (const auto& p : config.passwords) last[p.user] = &p;
  std::string plain;
  std::string crypted;
  for (const auto& p : config.passwords) {
    if (last[p.user] != &p) continue;
    (p.hashed ? crypted : plain) += p.user + ":" + p.password + "\n";
  }
  std::vector<std::string> names;
  for (const auto& u : config.users) names.push_back(u.name);
  if (!names.empty()) files->push_back({"kumo/users", Lines(names)});
  if (!plain.empty()) files->push_back({"kumo/chpasswd", plain});
  if (!crypted.empty()) files->push_back({"kumo/chpasswd-crypted", crypted});
  for (const auto& k : config.ssh_authorized_keys) AddKey(root_keys, k);
  for (const auto& u : config.users) {
    if (u.ssh_authorized_keys.empty()) continue;
    std::vector<std::string> keys;
    for (const auto& k : u.ssh_authorized_keys) AddKey(&keys, k);
    files->push_back({"kumo/authorized_keys/" + u.name, Lines(keys)});
  }
  for (size_t i = 0; i < config.runcmd.size(); ++i) {
    const RuncmdEntry& e = config.runcmd[i];
    if (e.is_argv) {
      std::string args;
      for (const auto& a : e.argv) {
        args += a;
        args.push_back('\0');
      }
      files->push_back({"kumo/runcmd/" + RuncmdName(i) + ".argv", std::move(args)});
    } else {
      files->push_back({"kumo/runcmd/" + RuncmdName(i), e.text});
    }
  }
}

Status WriteFile(const fs::path& path, const std::string& content) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Status(codes::kInternal, "cannot write " + path.string() + ": " + std::strerror(errno));
  }
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = errno;
      close(fd);
      return Status(codes::kInternal, "cannot write " + path.string() + ": " + std::strerror(e));
    }
    done += static_cast<size_t>(n);
  }
  if (close(fd) != 0) {
    return Status(codes::kInternal, "cannot write " + path.string() + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

// Creates root/rel one level at a time, each 0700.
Status MakeDirs(const fs::path& root, const fs::path& rel) {
  fs::path dir = root;
  for (const auto& part : rel) {
    dir /= part;
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return Status(codes::kInternal,
                    "cannot create " + dir.string() + ": " + std::strerror(errno));
    }
  }
  return Status::Ok();
}

}  // namespace

bool IsValidInstanceId(const std::string& id) {
  if (id.empty() || id.size() > 64 || id[0] == '.' || id[0] == '-') return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<std::vector<SeedFile>> SeedFiles(const SeedInput& in) {
  if (!IsValidInstanceId(in.instance_id)) {
    return Invalid("instance id '" + in.instance_id +
                   "' must be 1-64 letters, digits, '.', '_' or '-' (not starting with . or -)");
  }
  if (!IsValidHostname(in.hostname)) {
    return Invalid("host name '" + in.hostname + "' is not a valid host name");
  }
  std::string key = in.ssh_key;
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) {
    key.pop_back();
  }
  if (key.find_first_of("\r\n") != std::string::npos) {
    return Invalid("ssh_key must be a single line");
  }
  auto report = CheckUserData(in.user_data);
  if (!report.ok()) return report.status();

  std::vector<SeedFile> files = {
      {"user-data", in.user_data},
      {"meta-data", MetaData(in, key)},
      {"kumo/format", "1\n"},
      {"kumo/instance-id", in.instance_id + "\n"},
      {"kumo/user-data-kind", std::string(UserDataKindName(report->kind)) + "\n"},
  };
  std::vector<std::string> root_keys;
  if (!key.empty()) root_keys.push_back(key);
  std::string hostname = in.hostname;
  std::vector<SeedFile> more;
  if (report->kind == UserDataKind::kCloudConfig) {
    auto config = ParseCloudConfig(in.user_data);
    if (!config.ok()) return config.status();
    if (config->hostname) hostname = *config->hostname;
    AddCloudConfigFiles(*config, &root_keys, &more);
  } else if (report->kind == UserDataKind::kScript) {
    more.push_back({"kumo/script", in.user_data});
    if (report->every_boot) more.push_back({"kumo/script-every-boot", ""});
  }
  files.push_back({"kumo/hostname", hostname + "\n"});
  if (!root_keys.empty()) files.push_back({"kumo/authorized_keys/root", Lines(root_keys)});
  for (auto& f : more) files.push_back(std::move(f));
  return files;
}

Status WriteSeed(const SeedInput& in, const std::string& dir) {
  auto files = SeedFiles(in);
  if (!files.ok()) return files.status();
  std::error_code ec;
  fs::path root(dir);
  fs::create_directories(root, ec);
  if (ec) return Status(codes::kInternal, "cannot create " + dir + ": " + ec.message());
  fs::permissions(root, fs::perms::owner_all, ec);
  for (const char* old : {"user-data", "meta-data", "kumo"}) {
    fs::remove_all(root / old, ec);
    if (ec) {
      return Status(codes::kInternal,
                    "cannot remove the old " + (root / old).string() + ": " + ec.message());
    }
  }
  for (const auto& f : *files) {
    if (Status s = MakeDirs(root, fs::path(f.path).parent_path()); !s.ok()) return s;
    if (Status s = WriteFile(root / f.path, f.content); !s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace kumo::cloudinit
