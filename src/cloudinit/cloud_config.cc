#include "cloudinit/cloud_config.h"

#include <yaml-cpp/yaml.h>

#include <regex>

namespace kumo::cloudinit {
namespace {

constexpr size_t kMaxRuncmdEntries = 999;  // the guest names them 001..999
constexpr char kWhere[] = "user data (#cloud-config)";

// Thrown inside this file only; ParseCloudConfig turns it into a Status.
struct ConfigError {
  std::string message;
};

std::string At(const YAML::Node& node) {
  YAML::Mark m = node.Mark();
  if (m.is_null()) return "";
  return " at line " + std::to_string(m.line + 1) + ", column " + std::to_string(m.column + 1);
}

[[noreturn]] void Fail(const YAML::Node& node, const std::string& path, const std::string& what) {
  throw ConfigError{std::string(kWhere) + ": " + path + At(node) + ": " + what};
}

std::string Index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

// cloud-init's test for "this password is already a crypt hash"
// (cc_set_passwords: \$(1|2a|2y|5|6)(\$.+){2}, and no ':').
bool LooksHashed(const std::string& password) {
  static const std::regex kHash(R"(^\$(1|2a|2y|5|6)(\$.+){2}$)");
  return password.find(':') == std::string::npos && std::regex_match(password, kHash);
}

std::string Str(const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar()) Fail(node, path, "expected a string");
  const std::string& s = node.Scalar();
  if (s.find('\0') != std::string::npos) Fail(node, path, "must not contain a NUL character");
  return s;
}

bool Bool(const YAML::Node& node, const std::string& path) {
  bool value = false;
  if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value)) {
    Fail(node, path, "expected true or false");
  }
  return value;
}

template <typename Fn>
void EachInList(const YAML::Node& node, const std::string& path, Fn fn) {
  if (!node.IsSequence()) Fail(node, path, "expected a list");
  for (size_t i = 0; i < node.size(); ++i) fn(node[i], Index(path, i));
}

class Parser {
 public:
  CloudConfig Parse(const YAML::Node& root) {
    if (root.IsNull()) return std::move(config_);
    if (!root.IsMap()) Fail(root, "document", "expected a mapping of keys to values");
    for (const auto& kv : root) {
      if (!kv.first.IsScalar()) Fail(kv.first, "key", "expected a string");
      const std::string key = kv.first.Scalar();
      const YAML::Node& value = kv.second;
      if (value.IsNull()) continue;  // "key:" with nothing: as if absent
      if (key == "hostname") {
        SetHostname(value, key, /*from_fqdn=*/false);
      } else if (key == "fqdn") {
        SetHostname(value, key, /*from_fqdn=*/true);
      } else if (key == "password") {
        AddPassword(value, key, "root", Str(value, key), /*hashed=*/std::nullopt);
      } else if (key == "chpasswd") {
        ParseChpasswd(value);
      } else if (key == "ssh_authorized_keys") {
        ParseKeys(value, key, &config_.ssh_authorized_keys);
      } else if (key == "users") {
        ParseUsers(value);
      } else if (key == "runcmd") {
        ParseRuncmd(value);
      } else {
        Warn(key + ": not applied by the kumo image (a cloud-init image may apply it)");
      }
    }
    if (explicit_hostname_) {
      config_.hostname = *explicit_hostname_;
    } else if (fqdn_hostname_) {
      config_.hostname = *fqdn_hostname_;
    }
    for (auto& key : root_.ssh_authorized_keys) config_.ssh_authorized_keys.push_back(key);
    return std::move(config_);
  }

 private:
  void Warn(std::string w) { config_.warnings.push_back(std::move(w)); }

  // cloud-init: the host name is the first label of `hostname`, else of `fqdn`.
  void SetHostname(const YAML::Node& node, const std::string& path, bool from_fqdn) {
    std::string name = Str(node, path);
    std::string label = name.substr(0, name.find('.'));
    if (!IsValidHostname(label)) {
      Fail(node, path,
           "'" + name +
               "' is not a valid host name (1-63 letters, digits and '-', not starting or "
               "ending with '-')");
    }
    (from_fqdn ? fqdn_hostname_ : explicit_hostname_) = label;
  }

  // `hashed` nullopt: decide as cloud-init does, by the look of it.
  void AddPassword(const YAML::Node& node, const std::string& path, const std::string& user,
                   const std::string& password, std::optional<bool> hashed) {
    if (!IsValidUserName(user)) {
      Fail(node, path,
           "'" + user + "' is not a user name the kumo image accepts ([a-z_][a-z0-9_-]*)");
    }
    if (password.empty()) Fail(node, path, "the password is empty");
    if (password.find_first_of("\r\n") != std::string::npos) {
      Fail(node, path, "a password must not contain a line break");
    }
    if (password == "R" || password == "RANDOM") {
      Warn(path + ": random passwords are not supported by the kumo image; " + user +
           "'s password is left unchanged");
      return;
    }
    bool is_hash = hashed.value_or(LooksHashed(password));
    if (is_hash && password.find(':') != std::string::npos) {
      Fail(node, path, "a password hash must not contain ':'");
    }
    config_.passwords.push_back({user, password, is_hash});
  }

  void ParseChpasswdLine(const YAML::Node& node, const std::string& path, std::string line) {
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) {
      line.pop_back();
    }
    size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos) return;  // blank line of a `list: |` block
    line.erase(0, start);
    size_t colon = line.find(':');
    if (colon == std::string::npos) Fail(node, path, "expected user:password, got '" + line + "'");
    AddPassword(node, path, line.substr(0, colon), line.substr(colon + 1), std::nullopt);
  }

  void ParseChpasswd(const YAML::Node& node) {
    if (!node.IsMap()) Fail(node, "chpasswd", "expected a mapping (list:, users:, expire:)");
    for (const auto& kv : node) {
      std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "?";
      std::string path = "chpasswd." + key;
      const YAML::Node& value = kv.second;
      if (value.IsNull()) continue;
      if (key == "list") {
        if (value.IsScalar()) {  // the `list: |` form, one user:password a line
          std::string text = Str(value, path);
          size_t pos = 0;
          while (pos <= text.size()) {
            size_t end = text.find('\n', pos);
            if (end == std::string::npos) end = text.size();
            ParseChpasswdLine(value, path, text.substr(pos, end - pos));
            pos = end + 1;
          }
        } else {
          EachInList(value, path, [&](const YAML::Node& item, const std::string& p) {
            ParseChpasswdLine(item, p, Str(item, p));
          });
        }
      } else if (key == "users") {
        EachInList(value, path, [&](const YAML::Node& item, const std::string& p) {
          ParseChpasswdUser(item, p);
        });
      } else if (key == "expire") {
        Bool(value, path);  // type-checked; the kumo image never expires passwords
      } else {
        Warn(path + ": not applied by the kumo image");
      }
    }
  }

  // {name, password, type: hash (cloud-init's default) | text | RANDOM}
  void ParseChpasswdUser(const YAML::Node& node, const std::string& path) {
    if (!node.IsMap()) Fail(node, path, "expected a mapping with name, password and type");
    if (!node["name"]) Fail(node, path, "'name' is missing");
    std::string name = Str(node["name"], path + ".name");
    std::string type = node["type"] ? Str(node["type"], path + ".type") : "hash";
    if (type == "RANDOM" || !node["password"]) {
      Warn(path + ": random passwords are not supported by the kumo image; " + name +
           "'s password is left unchanged");
      return;
    }
    if (type != "hash" && type != "text") {
      Fail(node["type"], path + ".type", "expected hash, text or RANDOM, got '" + type + "'");
    }
    std::string password = Str(node["password"], path + ".password");
    if (type == "hash" && !LooksHashed(password)) {
      Warn(path +
           ": the password is not a crypt hash but type is hash (cloud-init's default); "
           "add type: text for a plain-text password");
    }
    AddPassword(node["password"], path + ".password", name, password, type == "hash");
  }

  void ParseKeys(const YAML::Node& node, const std::string& path, std::vector<std::string>* out) {
    EachInList(node, path, [&](const YAML::Node& item, const std::string& p) {
      std::string key = Str(item, p);
      while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) {
        key.pop_back();
      }
      if (key.empty()) Fail(item, p, "the key is empty");
      if (key.find_first_of("\r\n") != std::string::npos) {
        Fail(item, p, "an SSH public key must be a single line");
      }
      out->push_back(std::move(key));
    });
  }

  void ParseUsers(const YAML::Node& node) {
    if (node.IsScalar()) {  // cloud-init also takes "default, bob"
      std::string list = node.Scalar();
      size_t pos = 0;
      while (pos <= list.size()) {
        size_t end = list.find(',', pos);
        if (end == std::string::npos) end = list.size();
        std::string name = list.substr(pos, end - pos);
        name.erase(0, name.find_first_not_of(" \t"));
        name.erase(name.find_last_not_of(" \t") + 1);
        if (!name.empty()) AddUser(node, "users", name);
        pos = end + 1;
      }
      return;
    }
    EachInList(node, "users", [&](const YAML::Node& item, const std::string& p) {
      if (item.IsScalar()) {
        AddUser(item, p, item.Scalar());
      } else if (item.IsMap()) {
        ParseUser(item, p);
      } else {
        Fail(item, p, "expected a user name or a mapping with name:");
      }
    });
  }

  UserAccount* AddUser(const YAML::Node& node, const std::string& path, const std::string& name) {
    if (name == "default") return nullptr;  // cloud-init's distro user; kumo's is root
    if (!IsValidUserName(name)) {
      Fail(node, path,
           "'" + name +
               "' is not a user name the kumo image accepts ([a-z_][a-z0-9_-]*, at most 32)");
    }
    if (name == "root") return &root_;
    for (auto& u : config_.users) {
      if (u.name == name) return &u;
    }
    config_.users.push_back({name, {}});
    return &config_.users.back();
  }

  void ParseUser(const YAML::Node& node, const std::string& path) {
    if (!node["name"]) Fail(node, path, "'name' is missing");
    std::string name = Str(node["name"], path + ".name");
    std::string label = path + " (" + name + ")";
    UserAccount* user = AddUser(node["name"], path + ".name", name);
    if (!user) {
      if (node.size() > 1) Warn(label + ": settings of the default user are ignored");
      return;
    }
    bool lock = true;  // cloud-init locks the password unless told not to
    std::optional<std::pair<YAML::Node, bool>> password;  // node, hashed
    for (const auto& kv : node) {
      std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "?";
      std::string p = path + "." + key;
      const YAML::Node& value = kv.second;
      if (key == "name" || value.IsNull()) continue;
      if (key == "plain_text_passwd") {
        password = {value, false};
      } else if (key == "hashed_passwd" || key == "passwd") {
        password = {value, true};
      } else if (key == "lock_passwd") {
        lock = Bool(value, p);
      } else if (key == "ssh_authorized_keys") {
        ParseKeys(value, p, &user->ssh_authorized_keys);
      } else if (key == "password") {
        Warn(label + ".password: not a cloud-init key; use plain_text_passwd or hashed_passwd");
      } else {
        Warn(label + "." + key + ": not applied by the kumo image");
      }
    }
    if (password) {
      std::string p = path + (password->second ? ".hashed_passwd" : ".plain_text_passwd");
      std::string text = Str(password->first, p);
      if (lock) {
        Warn(label +
             ": password not set because lock_passwd is true (cloud-init's default); "
             "add lock_passwd: false");
      } else {
        AddPassword(password->first, p, name, text, password->second);
      }
    }
  }

  void ParseRuncmd(const YAML::Node& node) {
    if (node.IsSequence() && node.size() > kMaxRuncmdEntries) {
      Fail(node, "runcmd",
           "has " + std::to_string(node.size()) + " entries; the limit is " +
               std::to_string(kMaxRuncmdEntries));
    }
    EachInList(node, "runcmd", [&](const YAML::Node& item, const std::string& p) {
      RuncmdEntry entry;
      if (item.IsScalar()) {
        entry.text = Str(item, p);
      } else if (item.IsSequence()) {
        if (item.size() == 0) Fail(item, p, "an empty list names no program");
        entry.is_argv = true;
        EachInList(item, p, [&](const YAML::Node& arg, const std::string& ap) {
          entry.argv.push_back(Str(arg, ap));
        });
        if (entry.argv[0].empty()) Fail(item, p, "the program name is empty");
      } else {
        Fail(item, p,
             "expected a string (shell command) or a list of strings (program and arguments)");
      }
      config_.runcmd.push_back(std::move(entry));
    });
  }

  // root under users: its keys join root's list at the end; its passwords
  // are added as they are read.
  UserAccount root_{"root", {}};
  CloudConfig config_;
  std::optional<std::string> explicit_hostname_;
  std::optional<std::string> fqdn_hostname_;
};

}  // namespace

bool IsValidHostname(std::string_view name) {
  if (name.empty() || name.size() > 63 || name.front() == '-' || name.back() == '-') return false;
  for (char c : name) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool IsValidUserName(std::string_view name) {
  if (name.empty() || name.size() > 32) return false;
  if (!((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_')) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<CloudConfig> ParseCloudConfig(std::string_view text) {
  try {
    YAML::Node root = YAML::Load(std::string(text));
    return Parser().Parse(root);
  } catch (const ConfigError& e) {
    return Status(codes::kInvalidArgument, e.message,
                  "see the #cloud-config subset in src/cloudinit/README.md");
  } catch (const YAML::Exception& e) {
    std::string where = e.mark.is_null() ? ""
                                         : "line " + std::to_string(e.mark.line + 1) + ", column " +
                                               std::to_string(e.mark.column + 1) + ": ";
    return Status(codes::kInvalidArgument,
                  std::string(kWhere) + " is not valid YAML: " + where + e.msg,
                  "check the indentation and quoting near that line");
  }
}

}  // namespace kumo::cloudinit
