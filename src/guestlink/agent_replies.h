// How the typed guest-agent calls read QGA replies: pure functions from a
// reply to a Status or a typed value, so that every hostile shape a guest
// may send can be table-tested without an agent. Internal to guestlink.
//
// A reply is untrusted. The framer already bounds one message to 1 MiB
// (qga::QgaFramer::kDefaultMaxMessageBytes), so no text here can be larger
// than that; the limits below bound what is kept of it further.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "guestlink/guest_agent.h"
#include "guestlink/qga_client.h"

namespace kumo::guestlink {

// Per exec output stream, decoded. Inside one 1 MiB message a stream's
// base64 decodes to under 768 KiB, so today this never cuts; it keeps the
// bound if the framer's ever grows.
inline constexpr size_t kMaxExecOutputBytes = 1 << 20;
inline constexpr size_t kMaxInterfaces = 64;
inline constexpr size_t kMaxAddressesPerInterface = 64;
inline constexpr size_t kMaxSupportedCommands = 512;
// Names, addresses, OS fields, and the agent's error class and description.
inline constexpr size_t kMaxTextBytes = 1024;

// The end of a call: ok, GuestAgentNotResponding (timed out, or the link
// could not connect or was closed), or GuestCommandFailed "<desc> (<class>)".
Status ReplyStatus(const QgaReply& reply);

// "powerdown", "reboot", "halt".
const char* ShutdownModeName(ShutdownMode mode);
// guest-exec's arguments for `command`.
json ExecArguments(const ExecCommand& command);

// Each parses a successful reply's "return" value; a value of the wrong
// shape is GuestCommandFailed "malformed reply to <command>: ...".
Result<int64_t> ParseExecStarted(const json& value);
Result<ExecStatus> ParseExecStatus(const json& value);
Result<OsInfo> ParseOsInfo(const json& value);
// guest-info: version, "kumo-role" (kumo-agent: "normal" | "rescue"; ""
// when the agent has none, as qemu-ga) and whether kumo-health is among its
// enabled supported_commands (looked for in the first kMaxSupportedCommands).
Result<AgentIdentity> ParseAgentIdentity(const json& value);
// Keeps at most kMaxInterfaces interfaces, kMaxAddressesPerInterface each.
Result<std::vector<NetworkInterface>> ParseNetworkInterfaces(const json& value);
// kumo-health, kumo-init-status: any JSON object.
Result<json> ParseObject(const std::string& command, const json& value);

}  // namespace kumo::guestlink
