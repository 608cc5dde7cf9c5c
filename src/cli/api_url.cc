#include "cli/api_url.h"

#include <algorithm>
#include <cctype>

namespace kumo::cli {
namespace {

CliError BadUrl(const std::string& text, const std::string& why, const std::string& hint = "") {
  return {kExitUsage, "--url '" + text + "' " + why,
          hint.empty() ? "give it as http://HOST:PORT, for example " + std::string(kDefaultApiUrl)
                       : hint};
}

bool HostCharOk(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
}

}  // namespace

std::string ApiUrl::Authority() const {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string ApiUrl::ToString() const { return "http://" + Authority() + base_path; }

Outcome<ApiUrl> ParseApiUrl(const std::string& text) {
  size_t sep = text.find("://");
  if (sep == std::string::npos) {
    return BadUrl(
        text, "has no scheme",
        "write it with the scheme, e.g. http://" + text + " (default " + kDefaultApiUrl + ")");
  }
  std::string scheme = text.substr(0, sep);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (scheme != "http") {
    return BadUrl(text, "uses the unsupported scheme '" + scheme + "'",
                  "kumod serves plain HTTP: use http://HOST:PORT; to reach another host "
                  "securely, tunnel it (ssh -L 8470:127.0.0.1:8470 HOST)");
  }
  std::string rest = text.substr(sep + 3);
  if (rest.find_first_of("?#") != std::string::npos) {
    return BadUrl(text, "must not contain a query or a fragment");
  }
  for (char c : rest) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return BadUrl(text, "contains a space or a control character");
    }
  }
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? "" : rest.substr(slash);
  if (authority.find('@') != std::string::npos) {
    return BadUrl(text, "must not contain user info",
                  "the API token goes in --token / KUMO_TOKEN or STATE_DIR/token");
  }

  ApiUrl url;
  std::string port_text;
  bool has_port = false;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) return BadUrl(text, "has an unclosed '[' in its host");
    url.host = authority.substr(1, close - 1);
    std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return BadUrl(text, "has text after the IPv6 address");
      has_port = true;
      port_text = after.substr(1);
    }
    bool ok = !url.host.empty() && std::all_of(url.host.begin(), url.host.end(), [](char c) {
      return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
    });
    if (!ok) return BadUrl(text, "has an invalid IPv6 address");
  } else {
    size_t colon = authority.find(':');
    if (colon != std::string::npos && authority.find(':', colon + 1) != std::string::npos) {
      return BadUrl(text, "has more than one ':' in its host",
                    "write an IPv6 address in brackets, e.g. http://[::1]:8470");
    }
    url.host = authority.substr(0, colon);
    if (colon != std::string::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
    }
    if (url.host.empty()) return BadUrl(text, "has no host");
    if (!std::all_of(url.host.begin(), url.host.end(), HostCharOk)) {
      return BadUrl(text, "has an invalid host name");
    }
  }
  if (has_port) {
    bool digits = !port_text.empty() && port_text.size() <= 5 &&
                  std::all_of(port_text.begin(), port_text.end(),
                              [](unsigned char c) { return std::isdigit(c); });
    int port = digits ? std::stoi(port_text) : 0;
    if (port < 1 || port > 65535) return BadUrl(text, "has an invalid port '" + port_text + "'");
    url.port = static_cast<uint16_t>(port);
  }
  while (!path.empty() && path.back() == '/') path.pop_back();
  url.base_path = path;
  return url;
}

std::string EncodePathSegment(const std::string& segment) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : segment) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace kumo::cli
