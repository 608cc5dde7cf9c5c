// The #cloud-config subset the kumo guest image applies, parsed on the host so
// the guest needs no YAML parser (WriteSeed hands it over pre-digested).
//
//   hostname: web            (or fqdn: web.example.com; the first label is used)
//   password: secret         root's password (a crypt hash like $6$... is
//                            taken as already hashed, as cloud-init does)
//   chpasswd:
//     list: ["root:secret", "bob:$6$..."]   or   list: |  (one user:password a line)
//     users: [{name: root, password: secret, type: text|hash}]
//     expire: false          accepted; the kumo image never expires passwords
//   ssh_authorized_keys: ["ssh-ed25519 AAAA... me@host"]   root's
//   users:                   "default" is ignored; other entries are created
//     - name: bob
//       plain_text_passwd: secret      (or hashed_passwd / passwd: $6$...)
//       lock_passwd: false             (cloud-init locks passwords by default)
//       ssh_authorized_keys: [...]
//   runcmd:
//     - echo hello > /tmp/x  # a string: run with /bin/sh in the guest
//     - [touch, /tmp/y]      # a list: the argv of one program, no shell
//
// Other keys are ignored by the kumo image and listed in `warnings` (a
// cloud-init image may still apply them). Wrong types, unsafe values (a
// password with a newline, a user name with ':') and invalid YAML are errors.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace kumo::cloudinit {

struct PasswordChange {
  std::string user;
  std::string password;
  bool hashed = false;  // a crypt(3) hash, for `chpasswd -e`
};

struct UserAccount {
  std::string name;  // never "root": root always exists
  std::vector<std::string> ssh_authorized_keys;
};

struct RuncmdEntry {
  bool is_argv = false;
  std::string text;               // !is_argv: shell text
  std::vector<std::string> argv;  // is_argv: program and arguments
};

struct CloudConfig {
  std::optional<std::string> hostname;
  std::vector<PasswordChange> passwords;         // in order; later ones win
  std::vector<std::string> ssh_authorized_keys;  // root's
  std::vector<UserAccount> users;                // to create if missing
  std::vector<RuncmdEntry> runcmd;
  std::vector<std::string> warnings;
};

// `text` is the whole user data, "#cloud-config" line included (so line
// numbers in messages match what the user wrote).
// Errors: InvalidArgument with "line L, column C" where the YAML has it.
Result<CloudConfig> ParseCloudConfig(std::string_view text);

// Host-name rules shared with the seed: 1-63 letters, digits and '-', not
// starting or ending with '-'.
bool IsValidHostname(std::string_view name);
// User names the kumo image can create: [a-z_][a-z0-9_-]{0,31}.
bool IsValidUserName(std::string_view name);

}  // namespace kumo::cloudinit
