// The NoCloud seed of a server: what a guest finds on its read-only `cidata`
// disk at boot. cloud-init (stock cloud images) reads `user-data` and
// `meta-data`; the kumo image reads `kumo/`, the same settings pre-digested
// into plain files so that the guest needs no YAML parser and never has to
// interpret user text as shell code:
//
//   user-data                 the user data, verbatim
//   meta-data                 instance-id, local-hostname, public-keys (YAML)
//   kumo/format               "1"
//   kumo/instance-id          one line
//   kumo/user-data-kind       none | script | cloud-config | opaque
//   kumo/hostname             one line (#cloud-config hostname, else the server's)
//   kumo/users                user names to create, one a line
//   kumo/chpasswd             user:password lines, for chpasswd
//   kumo/chpasswd-crypted     user:hash lines, for chpasswd -e
//   kumo/authorized_keys/USER SSH public keys, one a line (root: the create key first)
//   kumo/script               a `#!` user-data script, verbatim
//   kumo/script-every-boot    present (empty) when the script has the marker
//   kumo/runcmd/NNN           runcmd entry NNN (001...) as text, for /bin/sh NNN
//   kumo/runcmd/NNN.argv      runcmd entry NNN as a list: each argument ended by NUL
//
// Every file is data; none is generated shell code.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace kumo::cloudinit {

struct SeedInput {
  std::string instance_id;  // [A-Za-z0-9._-], 1-64 characters; new per server
  std::string hostname;     // the server's name (a valid host name)
  std::string user_data;    // may be empty
  std::string ssh_key;      // one OpenSSH public key line, or empty
};

struct SeedFile {
  std::string path;  // relative to the seed directory
  std::string content;
};

// The seed's files, in a stable order (pure).
// Errors: InvalidArgument for an invalid instance id, host name, key or user
// data (see CheckUserData).
Result<std::vector<SeedFile>> SeedFiles(const SeedInput& in);

// Writes SeedFiles(in) under `dir` (created 0700 if missing; files 0600).
// Replaces a previous seed in `dir` (user-data, meta-data, kumo/); nothing
// else in `dir` is touched.
// Errors: InvalidArgument as SeedFiles; Internal when a file cannot be written.
Status WriteSeed(const SeedInput& in, const std::string& dir);

bool IsValidInstanceId(const std::string& id);

}  // namespace kumo::cloudinit
