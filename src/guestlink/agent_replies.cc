#include "guestlink/agent_replies.h"

#include <limits>
#include <optional>

#include "common/base64.h"

namespace kumo::guestlink {
namespace {

// Cuts at a UTF-8 character boundary, so the text stays valid JSON text.
std::string Cut(std::string text, size_t limit = kMaxTextBytes) {
  if (text.size() <= limit) return text;
  size_t end = limit;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  text.resize(end);
  return text;
}

Status Malformed(const std::string& command, const std::string& what) {
  return Status(codes::kGuestCommandFailed, "malformed reply to " + command + ": " + what);
}

std::optional<int64_t> AsInt64(const json& value) {
  if (value.is_number_unsigned()) {
    auto u = value.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (value.is_number_integer()) return value.get<int64_t>();
  return std::nullopt;
}

std::optional<int> AsInt(const json& value) {
  auto v = AsInt64(value);
  if (!v || *v < std::numeric_limits<int>::min() || *v > std::numeric_limits<int>::max()) {
    return std::nullopt;
  }
  return static_cast<int>(*v);
}

// An optional string member: absent is "", present must be a string.
bool OptionalText(const json& object, const char* key, std::string* out) {
  auto it = object.find(key);
  if (it == object.end()) return true;
  if (!it->is_string()) return false;
  *out = Cut(it->get<std::string>());
  return true;
}

// An optional base64 member, decoded and bounded.
bool OptionalData(const json& object, const char* key, std::string* out) {
  auto it = object.find(key);
  if (it == object.end()) return true;
  if (!it->is_string()) return false;
  auto decoded = Base64Decode(it->get_ref<const std::string&>());
  if (!decoded) return false;
  if (decoded->size() > kMaxExecOutputBytes) decoded->resize(kMaxExecOutputBytes);
  *out = std::move(*decoded);
  return true;
}

}  // namespace

Status ReplyStatus(const QgaReply& reply) {
  if (reply.ok) return Status();
  if (reply.timed_out || reply.error_class == "ConnectionError") {
    std::string why = reply.error_class == "Timeout" ? "timed out" : Cut(reply.error_desc);
    if (reply.error_class == "Timeout" && reply.error_desc.find("busy") != std::string::npos) {
      why += " (it was still busy with an earlier request)";
    }
    return Status(codes::kGuestAgentNotResponding, "the guest agent did not answer: " + why);
  }
  std::string desc =
      reply.error_desc.empty() ? "the guest agent refused the command" : Cut(reply.error_desc);
  if (!reply.error_class.empty()) desc += " (" + Cut(reply.error_class) + ")";
  return Status(codes::kGuestCommandFailed, desc);
}

const char* ShutdownModeName(ShutdownMode mode) {
  switch (mode) {
    case ShutdownMode::kReboot:
      return "reboot";
    case ShutdownMode::kHalt:
      return "halt";
    case ShutdownMode::kPowerdown:
      break;
  }
  return "powerdown";
}

json ExecArguments(const ExecCommand& command) {
  json args = {
      {"path", command.path}, {"arg", command.args}, {"capture-output", command.capture_output}};
  if (!command.input.empty()) args["input-data"] = Base64Encode(command.input);
  return args;
}

Result<int64_t> ParseExecStarted(const json& value) {
  const char* command = "guest-exec";
  if (!value.is_object()) return Malformed(command, "not an object");
  auto it = value.find("pid");
  if (it == value.end()) return Malformed(command, "no pid");
  auto pid = AsInt64(*it);
  if (!pid || *pid <= 0) return Malformed(command, "pid is not a positive integer");
  return *pid;
}

Result<ExecStatus> ParseExecStatus(const json& value) {
  const char* command = "guest-exec-status";
  if (!value.is_object()) return Malformed(command, "not an object");
  auto exited = value.find("exited");
  if (exited == value.end() || !exited->is_boolean()) {
    return Malformed(command, "exited is not a boolean");
  }
  ExecStatus status;
  status.exited = exited->get<bool>();
  if (!status.exited) return status;
  if (auto it = value.find("exitcode"); it != value.end()) {
    auto code = AsInt(*it);
    if (!code) return Malformed(command, "exitcode is not an integer");
    status.exit_code = *code;
  }
  if (auto it = value.find("signal"); it != value.end()) {
    auto signal = AsInt(*it);
    if (!signal) return Malformed(command, "signal is not an integer");
    status.signal = *signal;
  }
  if (!OptionalData(value, "out-data", &status.stdout_text)) {
    return Malformed(command, "out-data is not base64");
  }
  if (!OptionalData(value, "err-data", &status.stderr_text)) {
    return Malformed(command, "err-data is not base64");
  }
  return status;
}

Result<OsInfo> ParseOsInfo(const json& value) {
  const char* command = "guest-get-osinfo";
  if (!value.is_object()) return Malformed(command, "not an object");
  OsInfo info;
  const std::pair<const char*, std::string*> fields[] = {{"id", &info.id},
                                                         {"pretty-name", &info.pretty_name},
                                                         {"kernel-release", &info.kernel_release},
                                                         {"machine", &info.machine}};
  for (const auto& [key, out] : fields) {
    if (!OptionalText(value, key, out))
      return Malformed(command, std::string(key) + " is not text");
  }
  return info;
}

namespace {
// Whether `name` is among the enabled entries of supported_commands.
bool OffersCommand(const json& info, const std::string& name) {
  auto commands = info.find("supported_commands");
  if (commands == info.end() || !commands->is_array()) return false;
  size_t seen = 0;
  for (const json& c : *commands) {
    if (++seen > kMaxSupportedCommands) break;
    if (!c.is_object()) continue;
    auto n = c.find("name");
    auto enabled = c.find("enabled");
    if (n != c.end() && *n == name && (enabled == c.end() || *enabled == true)) return true;
  }
  return false;
}
}  // namespace

Result<AgentIdentity> ParseAgentIdentity(const json& value) {
  const char* command = "guest-info";
  if (!value.is_object()) return Malformed(command, "not an object");
  AgentIdentity id;
  if (!OptionalText(value, "kumo-role", &id.role)) return Malformed(command, "kumo-role is not text");
  if (!OptionalText(value, "version", &id.version)) return Malformed(command, "version is not text");
  id.kumo_commands = !id.role.empty() || OffersCommand(value, "kumo-health");
  return id;
}

Result<std::vector<NetworkInterface>> ParseNetworkInterfaces(const json& value) {
  const char* command = "guest-network-get-interfaces";
  if (!value.is_array()) return Malformed(command, "not an array");
  std::vector<NetworkInterface> interfaces;
  for (const json& entry : value) {
    if (interfaces.size() == kMaxInterfaces) break;
    if (!entry.is_object()) return Malformed(command, "an interface is not an object");
    auto name = entry.find("name");
    if (name == entry.end() || !name->is_string()) {
      return Malformed(command, "an interface has no name");
    }
    NetworkInterface iface;
    iface.name = Cut(name->get<std::string>());
    if (!OptionalText(entry, "hardware-address", &iface.hardware_address)) {
      return Malformed(command, "hardware-address is not text");
    }
    auto addresses = entry.find("ip-addresses");
    if (addresses != entry.end()) {
      if (!addresses->is_array()) return Malformed(command, "ip-addresses is not an array");
      for (const json& a : *addresses) {
        if (iface.ip_addresses.size() == kMaxAddressesPerInterface) break;
        auto ip = a.find("ip-address");  // end() unless an object
        if (!a.is_object() || ip == a.end() || !ip->is_string()) {
          return Malformed(command, "an address has no ip-address");
        }
        std::string text = Cut(ip->get<std::string>());
        if (auto prefix = a.find("prefix"); prefix != a.end()) {
          auto bits = AsInt(*prefix);
          if (!bits || *bits < 0 || *bits > 128) {
            return Malformed(command, "a prefix is not an integer from 0 to 128");
          }
          text += "/" + std::to_string(*bits);
        }
        iface.ip_addresses.push_back(std::move(text));
      }
    }
    interfaces.push_back(std::move(iface));
  }
  return interfaces;
}

Result<json> ParseObject(const std::string& command, const json& value) {
  if (!value.is_object()) return Malformed(command, "not an object");
  return value;
}

}  // namespace kumo::guestlink
