// QgaDispatcher turns one framed QGA message into one reply, the way QEMU's
// QAPI dispatcher does: it checks the request envelope (execute, arguments,
// id), looks the command up, checks the arguments against the command's
// declared parameters, and runs the handler. Errors use QGA's classes and
// wording (CommandNotFound, GenericError), so clients written for qemu-ga
// behave the same against kumo-agent.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kumo::agent {

using json = nlohmann::json;

struct QgaError {
  std::string error_class;  // "GenericError", "CommandNotFound", ...
  std::string desc;
};

// What a command produced. kNone: no reply at all (guest-shutdown succeeded).
struct CommandResult {
  enum class Kind { kReturn, kError, kNone };
  Kind kind = Kind::kReturn;
  json value;
  QgaError error;

  static CommandResult Return(json v) { return {Kind::kReturn, std::move(v), {}}; }
  static CommandResult Error(std::string desc, std::string cls = "GenericError") {
    return {Kind::kError, nullptr, {std::move(cls), std::move(desc)}};
  }
  static CommandResult None() { return {Kind::kNone, nullptr, {}}; }
};

// Typed access to a command's arguments. Accessors throw ArgumentError with
// QAPI's wording; the dispatcher turns it into a GenericError reply.
class Arguments {
 public:
  explicit Arguments(const json& object) : object_(object) {}

  int64_t RequiredInt(const char* name) const;
  std::string RequiredString(const char* name) const;
  std::optional<int64_t> OptionalInt(const char* name) const;
  std::optional<std::string> OptionalString(const char* name) const;
  std::optional<bool> OptionalBool(const char* name) const;
  std::vector<std::string> OptionalStringList(const char* name) const;
  // The raw value, for arguments QAPI allows in two types (guest-file-seek's whence).
  const json* Find(const char* name) const;

 private:
  const json& object_;
};

struct ArgumentError {
  std::string desc;
};

struct Command {
  std::string name;
  std::vector<std::string> params;  // every accepted argument name
  std::function<CommandResult(const Arguments&)> handler;
  bool enabled = true;
  bool success_response = true;  // false for guest-shutdown
};

// A reply ready for the wire: QGA's JSON text, preceded by 0xFF for
// guest-sync-delimited.
struct WireReply {
  std::string bytes;
};

class QgaDispatcher {
 public:
  void Add(Command command);
  void Disable(const std::string& name);

  // While filesystems are frozen (guest-fsfreeze-freeze), only the commands
  // qemu-ga allows then run (ping, info, sync, fsfreeze status and thaw):
  // anything else could write to a frozen filesystem and hang the agent. The
  // others answer CommandNotFound, and guest-info lists them as disabled.
  void SetFrozen(bool frozen) { frozen_ = frozen; }
  bool frozen() const { return frozen_; }
  static bool AllowedWhileFrozen(const std::string& name);

  // Returns the reply for one message, or nullopt when the command sends none.
  std::optional<WireReply> Dispatch(std::string_view message) const;

  // Formats an error that is not tied to a request (framing errors).
  static WireReply FormatError(const QgaError& error);

  // guest-info's supported_commands list.
  json SupportedCommands() const;

 private:
  bool Enabled(const Command& command) const;

  std::map<std::string, Command> commands_;
  bool frozen_ = false;
};

}  // namespace kumo::agent
