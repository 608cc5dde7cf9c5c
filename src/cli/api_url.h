// Where kumod's API is: parsed from --url / KUMO_URL. Only plain http:// is
// served by kumod (TCP, no TLS); anything else is a usage error.
#pragma once

#include <cstdint>
#include <string>

#include "cli/cli_error.h"

namespace kumo::cli {

inline constexpr char kDefaultApiUrl[] = "http://127.0.0.1:8470";

struct ApiUrl {
  std::string host;       // "127.0.0.1", "localhost", "::1" (IPv6 without brackets)
  uint16_t port = 80;     // the URL's port, else 80 as for any http:// URL
  std::string base_path;  // "" or "/prefix" (behind a reverse proxy), no trailing '/'

  // "host:port", with brackets around an IPv6 address: the Host header.
  std::string Authority() const;
  // "http://host:port/prefix", for messages.
  std::string ToString() const;
};

// Parses "http://HOST[:PORT][/PREFIX]". Refuses other schemes, user info,
// queries, fragments and bad ports with a usage error (exit 2).
Outcome<ApiUrl> ParseApiUrl(const std::string& text);

// Percent-encodes one path segment (e.g. a server name) so that it cannot
// change the request's path: everything but A-Z a-z 0-9 - . _ ~ becomes %XX.
std::string EncodePathSegment(const std::string& segment);

}  // namespace kumo::cli
